//! S3 and Glue against a real HTTP endpoint: the moto server `tests/run.sh` starts
//! (`ETLX_TEST_AWS_ENDPOINT`). Uploading a landing zone, S3 sources read through the local
//! cache, external models published as Parquet with their Glue tables and partitions, and
//! source registration, each checked by reading S3 and Glue back.

use etlx::aws::{Aws, AwsSettings, S3Url};

use crate::harness::{Fixture, Output};

type Columns = Vec<(String, String)>;

/// A bucket and a Glue database of the test's own on the shared endpoint.
struct Lake {
    aws: Aws,
    bucket: String,
    database: String,
    env: Vec<(String, String)>,
}

impl Lake {
    fn create(test: &str) -> Option<Lake> {
        let Ok(endpoint) = std::env::var("ETLX_TEST_AWS_ENDPOINT") else {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("CI=true but ETLX_TEST_AWS_ENDPOINT is not set: .ci/run must start moto");
            }
            eprintln!("skipping {test}: set ETLX_TEST_AWS_ENDPOINT (tests/run.sh starts moto)");
            return None;
        };
        let aws = Aws::connect(AwsSettings {
            access_key_id: Some("testing".into()),
            secret_access_key: Some("testing".into()),
            region: Some("us-east-1".into()),
            endpoint_url: Some(endpoint.clone()),
            ..AwsSettings::default()
        })
        .expect("aws client");
        let bucket = format!("etlx-{test}-{}", std::process::id());
        aws.block_on(aws.s3.create_bucket().bucket(&bucket).send())
            .expect("create bucket");
        let database = format!("lake_{test}_{}", std::process::id());
        let env = [
            ("ETLX_TEST_AWS_ENDPOINT", endpoint.as_str()),
            ("ETLX_TEST_GLUE_DATABASE", database.as_str()),
            // The standard credential chain, as in production: environment variables.
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        Some(Lake {
            aws,
            bucket,
            database,
            env,
        })
    }

    fn etlx(&self, f: &Fixture, args: &[&str]) -> Output {
        let vars = format!("{{bucket: {}}}", self.bucket);
        let mut all = args.to_vec();
        if !matches!(args.first(), Some(&"stage")) {
            all.extend(["--vars", &vars]);
        }
        let out = f.etlx_with(&all, &self.env);
        assert_eq!(
            out.code, 0,
            "etlx {args:?}\nstdout:\n{}\nstderr:\n{}",
            out.stdout, out.stderr
        );
        out
    }

    fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    fn keys(&self, prefix: &str) -> Vec<String> {
        let url = S3Url::parse(&self.url(prefix)).expect("url");
        self.aws
            .list(&url)
            .expect("list")
            .into_iter()
            .map(|o| o.key)
            .collect()
    }

    /// Each partition's values and folder, in value order.
    fn partition_locations(&self, table: &str) -> Vec<(Vec<String>, String)> {
        let page = self
            .aws
            .block_on(
                self.aws
                    .glue
                    .get_partitions()
                    .database_name(&self.database)
                    .table_name(table)
                    .send(),
            )
            .expect("partitions");
        let mut out: Vec<(Vec<String>, String)> = page
            .partitions()
            .iter()
            .map(|p| {
                let at = p
                    .storage_descriptor()
                    .and_then(|s| s.location())
                    .unwrap_or_default();
                (p.values().to_vec(), at.to_string())
            })
            .collect();
        out.sort();
        out
    }

    /// Data columns and partition keys, as (name, Glue type).
    fn columns(&self, table: &str) -> (Columns, Columns) {
        let (data, keys) = self
            .aws
            .table_columns(&self.database, table)
            .expect("glue table");
        let pairs = |cols: Vec<etlx::aws::glue::GlueColumn>| {
            cols.into_iter()
                .map(|c| (c.name, c.glue_type))
                .collect::<Vec<_>>()
        };
        (pairs(data), pairs(keys))
    }
}

fn pairs(items: &[(&str, &str)]) -> Columns {
    items
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn stage_uploads_new_files_once_and_large_ones_in_parts() {
    let Some(lake) = Lake::create("stage") else {
        return;
    };
    let f = Fixture::new("lake");
    // 9 MiB: over the 8 MiB part size, so it goes up as a two-part upload.
    let line =
        "{\"user_id\": \"13\", \"ts\": 1541120400000, \"song\": \"Long\", \"level\": \"free\"}\n";
    let big = line.repeat(9 * 1024 * 1024 / line.len() + 1);
    std::fs::write(
        f.path().join("landing/events/day=2018-11-02/part-1.json"),
        big,
    )
    .unwrap();
    let first = lake.etlx(&f, &["stage", "landing", &lake.url("landing/")]);
    assert!(
        first.stdout.contains("4 uploaded") && first.stdout.contains("0 already there"),
        "{}",
        first.stdout
    );
    let url = S3Url::parse(&lake.url("landing/events/day=2018-11-02/part-1.json")).unwrap();
    let etag = lake.aws.etag(&url).unwrap().expect("uploaded");
    assert!(etag.ends_with("-2"), "a multipart ETag, got {etag}");
    // Nothing changed: nothing goes up again, the big file included.
    let second = lake.etlx(&f, &["stage", "landing", &lake.url("landing/")]);
    assert!(
        second.stdout.contains("0 uploaded") && second.stdout.contains("4 already there"),
        "{}",
        second.stdout
    );
    // One file changed: exactly it goes up.
    std::fs::write(
        f.path().join("landing/users/users.csv"),
        "user_id,first_name,registered\n10,Ada,2018-10-01\n",
    )
    .unwrap();
    let third = lake.etlx(&f, &["stage", "landing", &lake.url("landing/")]);
    assert!(third.stdout.contains("1 uploaded"), "{}", third.stdout);
    assert!(third.stdout.contains("users/users.csv"), "{}", third.stdout);
    // A bucket that is not there: the service's own words, on one line, exit 2.
    let missing = f.etlx_with(
        &["stage", "landing", "s3://etlx-no-such-bucket/x/"],
        &lake.env,
    );
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    assert!(
        missing
            .stderr
            .contains("NoSuchBucket: The specified bucket does not exist"),
        "{}",
        missing.stderr
    );
}

#[test]
fn s3_sources_and_external_models_publish_to_s3_and_glue() {
    let Some(lake) = Lake::create("external") else {
        return;
    };
    let f = Fixture::new("lake");
    lake.etlx(&f, &["stage", "landing", &lake.url("landing/")]);
    let built = lake.etlx(&f, &["build"]);
    assert!(
        built.stdout.contains("2 downloaded"),
        "the events are mirrored: {}",
        built.stdout
    );
    let warehouse = f.path().join("target/lake.duckdb");
    let rows = |sql: &str| crate::harness::duckdb_rows(&warehouse, sql);
    assert_eq!(rows("select plays from plays_total"), [["5"]]);
    assert_eq!(
        rows("select first_name, plays from user_export order by 1"),
        [["Ada", "3"], ["Grace", "1"], ["Linus", "1"]]
    );
    // Glue: the columns, typed, the partition key and one partition per day.
    assert_eq!(
        lake.columns("daily_plays"),
        (
            pairs(&[
                ("level", "string"),
                ("plays", "bigint"),
                ("listeners", "bigint")
            ]),
            pairs(&[("day", "date")])
        )
    );
    let mut days = lake.aws.partitions(&lake.database, "daily_plays").unwrap();
    days.sort();
    assert_eq!(days, [["2018-11-01"], ["2018-11-02"]]);
    let location = lake
        .aws
        .table_location(&lake.database, "daily_plays")
        .unwrap()
        .expect("location");
    let parquet = |prefix: &str| {
        let mut keys = lake.keys(prefix);
        keys.retain(|k| k.ends_with(".parquet"));
        keys
    };
    let objects = parquet("curated/daily_plays/");
    assert_eq!(objects.len(), 2, "{objects:?}");
    assert!(
        objects
            .iter()
            .all(|k| location.ends_with(&format!("{}/", k.rsplit_once("/day=").unwrap().0))),
        "{location} {objects:?}"
    );

    // A re-run: the cache is reused, the catalog moves to a new prefix and the old is gone.
    let again = lake.etlx(&f, &["build"]);
    assert!(
        again.stdout.contains("0 downloaded") && again.stdout.contains("2 cached"),
        "{}",
        again.stdout
    );
    let moved = lake
        .aws
        .table_location(&lake.database, "daily_plays")
        .unwrap()
        .expect("location");
    assert_ne!(moved, location);
    let objects = parquet("curated/daily_plays/");
    assert_eq!(objects.len(), 2, "old prefix deleted: {objects:?}");
    // The partitions were moved to the new prefix, not dropped and re-created.
    let located = lake.partition_locations("daily_plays");
    assert_eq!(located.len(), 2, "{located:?}");
    assert!(
        located.iter().all(|(_, at)| at.starts_with(&moved)),
        "{moved} {located:?}"
    );
    assert!(
        objects
            .iter()
            .all(|k| moved.contains(k.split("/day=").next().unwrap()))
    );

    // New landing data in S3 reaches the model: exactly the changed object is downloaded.
    std::fs::write(
        f.path().join("landing/events/day=2018-11-02/part-0.json"),
        "{\"user_id\": \"10\", \"ts\": 1541116800000, \"song\": \"Intro\", \"level\": \"paid\"}\n",
    )
    .unwrap();
    lake.etlx(&f, &["stage", "landing", &lake.url("landing/")]);
    let third = lake.etlx(&f, &["build"]);
    assert!(third.stdout.contains("1 downloaded"), "{}", third.stdout);
    assert_eq!(rows("select plays from plays_total"), [["4"]]);
}

#[test]
fn catalog_register_takes_declared_columns_or_reads_the_files() {
    let Some(lake) = Lake::create("register") else {
        return;
    };
    let f = Fixture::new("lake");
    lake.etlx(&f, &["stage", "landing", &lake.url("landing/")]);
    let out = lake.etlx(&f, &["catalog", "register"]);
    assert!(out.stdout.contains("Registered 2"), "{}", out.stdout);
    assert_eq!(
        lake.columns("events").0,
        pairs(&[
            ("user_id", "string"),
            ("ts", "bigint"),
            ("song", "string"),
            ("level", "string")
        ])
    );
    assert_eq!(
        lake.columns("users").0,
        pairs(&[
            ("user_id", "bigint"),
            ("first_name", "string"),
            ("registered", "date")
        ])
    );
    assert_eq!(
        lake.aws.table_location(&lake.database, "events").unwrap(),
        Some(lake.url("landing/events/"))
    );
}

/// Another team's files beside an external model's folder, and hand-made folders inside it,
/// survive its cleanup: only etlx's own marked `run-*` folders are deleted.
#[test]
fn external_cleanup_deletes_only_its_own_run_folders() {
    let Some(lake) = Lake::create("cleanup") else {
        return;
    };
    let f = Fixture::new("lake");
    lake.etlx(&f, &["stage", "landing", &lake.url("landing/")]);
    let foreign = [
        "curated/daily_plays_backup/data.parquet",
        "curated/daily_plays/run-20200101T000000000Z-abcdef/data.parquet",
        "curated/daily_plays/notes.txt",
    ];
    for key in foreign {
        let url = S3Url::parse(&lake.url(key)).unwrap();
        lake.aws.put(&url, b"not etlx's".to_vec()).unwrap();
    }
    lake.etlx(&f, &["build"]);
    lake.etlx(&f, &["build"]);
    let mut left = lake.keys("curated/");
    for key in foreign {
        assert!(
            left.contains(&key.to_string()),
            "{key} was deleted: {left:?}"
        );
    }
    left.retain(|k| !foreign.contains(&k.as_str()));
    // One run folder of etlx's own: its two day partitions and its marker.
    let runs: std::collections::BTreeSet<&str> =
        left.iter().map(|k| k.split('/').nth(2).unwrap()).collect();
    assert_eq!(runs.len(), 1, "{left:?}");
    assert_eq!(left.len(), 3, "{left:?}");
}

#[test]
fn an_external_model_at_a_bucket_root_is_refused() {
    let Some(lake) = Lake::create("root") else {
        return;
    };
    let f = Fixture::new("lake");
    lake.etlx(&f, &["stage", "landing", &lake.url("landing/")]);
    f.edit(
        "models/daily_plays.sql",
        "var('bucket') ~ '/curated/daily_plays'",
        "var('bucket') ~ '/'",
    );
    let vars = format!("{{bucket: {}}}", lake.bucket);
    let out = f.etlx_with(&["build", "-s", "+daily_plays", "--vars", &vars], &lake.env);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("is a bucket root"), "{}", out.stdout);
    assert_eq!(
        lake.keys("landing/").len(),
        3,
        "nothing of the bucket is deleted"
    );
}

/// S3 keeps keys verbatim, `..` included: such an object must not be written (or later
/// deleted) outside the local cache.
#[test]
fn the_s3_mirror_never_writes_outside_its_cache() {
    let Some(lake) = Lake::create("escape") else {
        return;
    };
    let f = Fixture::new("lake");
    lake.etlx(&f, &["stage", "landing", &lake.url("landing/")]);
    let key = "landing/events/../../../../../escaped.json";
    let url = S3Url::parse(&lake.url(key)).unwrap();
    lake.aws.put(&url, b"{}\n".to_vec()).unwrap();
    assert!(
        lake.keys("landing/events/").contains(&key.to_string()),
        "the server keeps the key verbatim: {:?}",
        lake.keys("landing/")
    );
    let out = lake.etlx(&f, &["build"]);
    assert!(
        out.stdout.contains("1 object(s) skipped") && out.stdout.contains(key),
        "{}",
        out.stdout
    );
    assert!(!f.path().join("escaped.json").exists());
    assert!(!f.path().join("target/escaped.json").exists());
}

/// A source in S3 read through the file ledger (on DuckDB, via the local mirror): each object
/// is read by the run after it lands and never again, identified by its URL and ETag. An
/// `append` model reading the source shows it, since nothing would hide a second read.
#[test]
fn s3_files_are_read_once_through_the_file_ledger() {
    let Some(lake) = Lake::create("ledger") else {
        return;
    };
    let f = Fixture::new("lake");
    f.edit(
        "models/sources.yml",
        "        format: json\n",
        "        format: json\n        config:\n          incremental_files: true\n",
    );
    std::fs::write(
        f.path().join("models/plays_log.sql"),
        "{{ config(materialized='incremental') }}\nselect user_id, ts, song from {{ source('landing', 'events') }}\n",
    )
    .expect("model");
    let later = f.path().join("later");
    std::fs::rename(f.path().join("landing/events/day=2018-11-02"), &later).expect("hold back");
    let count = || {
        crate::harness::duckdb_rows(
            &f.path().join("target/lake.duckdb"),
            "select count(*), count(distinct ts) from plays_log",
        )
    };
    lake.etlx(&f, &["stage", "landing", &lake.url("landing/")]);
    let first = lake.etlx(&f, &["build", "-s", "plays_log"]);
    assert!(first.stdout.contains("1 new file(s)"), "{}", first.stdout);
    let day_one = count();
    let again = lake.etlx(&f, &["build", "-s", "plays_log"]);
    assert!(again.stdout.contains("0 new file(s)"), "{}", again.stdout);
    assert_eq!(count(), day_one, "nothing read twice");

    std::fs::rename(&later, f.path().join("landing/events/day=2018-11-02")).expect("land");
    lake.etlx(&f, &["stage", "landing", &lake.url("landing/")]);
    let second = lake.etlx(&f, &["build", "-s", "plays_log"]);
    assert!(second.stdout.contains("1 new file(s)"), "{}", second.stdout);
    assert_eq!(count(), [["5", "5"]], "both days, each play once");
}
