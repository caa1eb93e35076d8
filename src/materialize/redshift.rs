//! Redshift's statements that move data between S3 and the warehouse: `COPY` (landing files
//! and seeds in) and `UNLOAD` (external models out). Both run as the IAM role of the target's
//! `aws_iam_role`, so no key ever appears in SQL.

use crate::aws::glue::FileFormat;
use crate::aws::s3::Object;
use crate::aws::{AwsError, S3Url};
use crate::sql::Dialect;

/// COPY's format clause for landing files of this format.
fn copy_format(format: FileFormat) -> &'static str {
    match format {
        FileFormat::Parquet => "format as parquet",
        FileFormat::Json => "format as json 'auto'",
        FileFormat::Csv => "format as csv ignoreheader 1",
    }
}

/// A COPY manifest naming exactly these objects, so a load reads what was listed, no more
/// (objects landing meanwhile wait for the next batch) and no less (`mandatory`).
pub fn manifest(bucket: &str, objects: &[Object]) -> String {
    let entries: Vec<serde_json::Value> = objects
        .iter()
        .map(|o| {
            serde_json::json!({
                "url": format!("s3://{bucket}/{}", o.key),
                "mandatory": true,
                "meta": {"content_length": o.size}
            })
        })
        .collect();
    serde_json::to_string_pretty(&serde_json::json!({ "entries": entries })).unwrap_or_default()
}

/// Where a source's manifest goes: under the staging prefix, named by the content it lists.
pub fn manifest_url(staging: &str, source: &str, manifest: &str) -> Result<S3Url, AwsError> {
    use sha2::Digest;
    let digest = hex::encode(sha2::Sha256::digest(manifest.as_bytes()));
    Ok(S3Url::parse(staging)?.join(&format!("manifests/{source}/{}.manifest", &digest[..16])))
}

/// `COPY` into `table` from a manifest (or, for a single file such as a seed, the object).
pub fn copy(
    table: &str,
    from: &S3Url,
    iam_role: &str,
    format: FileFormat,
    manifest: bool,
) -> String {
    let d = Dialect::Redshift;
    format!(
        "copy {table}\nfrom {}\niam_role {}\n{}{}",
        d.literal(&from.to_string()),
        d.literal(iam_role),
        copy_format(format),
        if manifest { "\nmanifest" } else { "" }
    )
}

/// `UNLOAD` a model's result as Parquet into a new prefix, partitioned when asked.
pub fn unload(sql: &str, to: &S3Url, iam_role: &str, partitions: &[String]) -> String {
    let d = Dialect::Redshift;
    let partition = if partitions.is_empty() {
        String::new()
    } else {
        let keys: Vec<String> = partitions.iter().map(|p| d.quote(p)).collect();
        format!("\npartition by ({})", keys.join(", "))
    };
    format!(
        "unload ({})\nto {}\niam_role {}\nformat as parquet{partition}",
        d.literal(sql.trim().trim_end_matches(';')),
        d.literal(&to.to_string()),
        d.literal(iam_role)
    )
}

/// Spectrum reads the Glue database as an external schema; the model's name becomes a
/// late-binding view over its external table, so `ref()` works as for any model.
pub fn spectrum_view(t: &super::QualifiedName, glue_database: &str, iam_role: &str) -> Vec<String> {
    let d = Dialect::Redshift;
    vec![
        format!(
            "create external schema if not exists {} from data catalog database {} iam_role {}",
            d.quote(glue_database),
            d.literal(glue_database),
            d.literal(iam_role)
        ),
        format!(
            "create or replace view {} as select * from {}.{} with no schema binding",
            t.qualified(),
            d.quote(glue_database),
            d.quote(&t.name.to_lowercase())
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLE: &str = "arn:aws:iam::123456789012:role/etlx-redshift";

    #[test]
    fn copy_unload_and_manifest_statements() {
        let objects = [
            Object {
                key: "landing/events/batch_001/events.json".into(),
                etag: "a".into(),
                size: 1200,
            },
            Object {
                key: "landing/events/batch_002/events.json".into(),
                etag: "b".into(),
                size: 900,
            },
        ];
        let listed = manifest("lake", &objects);
        let at = manifest_url("s3://lake/etlx/", "landing.events", &listed).unwrap();
        let text = [
            format!("-- manifest at {at}\n{listed}"),
            format!(
                "-- landing files through their manifest\n{};",
                copy(
                    "\"landing\".\"events__etlx_tmp\"",
                    &at,
                    ROLE,
                    FileFormat::Json,
                    true
                )
            ),
            format!(
                "-- a seed uploaded to staging\n{};",
                copy(
                    "\"analytics\".\"levels__etlx_tmp\"",
                    &S3Url::parse("s3://lake/etlx/seeds/levels.csv").unwrap(),
                    ROLE,
                    FileFormat::Csv,
                    false
                )
            ),
            format!(
                "-- an external model, partitioned\n{};",
                unload(
                    "select day, level, count(*) as plays from \"analytics\".\"plays\" where level = 'paid' group by 1, 2",
                    &S3Url::parse("s3://lake/curated/daily_plays/run-20261121T180000000Z-abc123/")
                        .unwrap(),
                    ROLE,
                    &["day".to_string()]
                )
            ),
            format!(
                "-- and read back through Spectrum\n{};",
                spectrum_view(
                    &crate::materialize::QualifiedName {
                        schema: "analytics",
                        name: "daily_plays",
                        dialect: Dialect::Redshift
                    },
                    "lake",
                    ROLE
                )
                .join(";\n")
            ),
        ]
        .join("\n\n");
        insta::assert_snapshot!(text);
        for sql in text
            .split(";")
            .filter(|s| s.contains("copy") || s.contains("unload"))
        {
            let statement = sql
                .lines()
                .filter(|l| !l.starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n");
            if statement.trim_start().starts_with("copy") {
                crate::sql::check(Dialect::Redshift, &statement)
                    .unwrap_or_else(|e| panic!("{statement}\n{e:?}"));
            }
        }
    }
}
