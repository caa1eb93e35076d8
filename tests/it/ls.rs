//! `etlx ls` with dbt's selector syntax.

use crate::harness::Fixture;

fn ls(f: &Fixture, args: &[&str]) -> Vec<String> {
    let mut full = vec!["ls", "--output", "name"];
    full.extend_from_slice(args);
    let out = f.etlx(&full);
    assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
    out.stdout.lines().map(str::to_string).collect()
}

#[test]
fn selectors_follow_dbt_semantics() {
    let f = Fixture::new("valid");
    let cases: &[(&[&str], &[&str])] = &[
        (&["-s", "customer_orders"], &["customer_orders"]),
        (
            &["-s", "+customer_orders"],
            &[
                "customers",
                "stg_customers",
                "orders",
                "stg_orders",
                "customer_orders",
            ],
        ),
        (
            &["-s", "1+customer_orders", "--resource-type", "model"],
            &["stg_customers", "stg_orders", "customer_orders"],
        ),
        (
            &["-s", "stg_orders+"],
            &[
                "stg_orders",
                "customer_orders",
                "assert_revenue_positive",
                "not_null_customer_orders_customer_id",
                "unique_customer_orders_customer_id",
            ],
        ),
        (&["-s", "stg_orders+1"], &["stg_orders", "customer_orders"]),
        (&["-s", "tag:daily"], &["customer_orders"]),
        (
            &["-s", "path:models/staging", "--resource-type", "model"],
            &["stg_customers", "stg_orders"],
        ),
        (&["-s", "config.materialized:view"], &["stg_orders"]),
        (
            &[
                "-s",
                "source:raw.orders+",
                "--exclude",
                "resource_type:test",
            ],
            &["orders", "stg_orders", "customer_orders"],
        ),
        (
            &["-s", "staging", "--exclude", "stg_customers"],
            &["stg_orders"],
        ),
        (
            &["-s", "tag:shop,config.materialized:ephemeral"],
            &["stg_customers"],
        ),
        (
            &["-s", "stg_orders", "countries"],
            &["countries", "stg_orders"],
        ),
        (
            &["-s", "@stg_orders", "--resource-type", "model"],
            &["stg_customers", "stg_orders", "customer_orders"],
        ),
        (&["--resource-type", "seed"], &["countries"]),
        // a filter after selection: the tests indirect selection brings along stay
        (
            &["-s", "customer_orders", "--resource-type", "test"],
            &[
                "assert_revenue_positive",
                "not_null_customer_orders_customer_id",
                "unique_customer_orders_customer_id",
            ],
        ),
        // a union of terms, narrowed to the types; and types left out
        (
            &[
                "-s",
                "stg_orders countries",
                "--resource-type",
                "model",
                "seed",
            ],
            &["countries", "stg_orders"],
        ),
        (
            &[
                "-s",
                "+customer_orders",
                "--exclude-resource-type",
                "source",
                "seed",
            ],
            &["stg_customers", "stg_orders", "customer_orders"],
        ),
    ];
    for (args, expected) in cases {
        assert_eq!(ls(&f, args), *expected, "etlx ls {}", args.join(" "));
    }
}

#[test]
fn output_formats() {
    let f = Fixture::new("valid");
    let out = f.etlx(&["ls", "-s", "+stg_orders"]);
    assert_eq!(
        out.stdout,
        "source:shop.raw.orders\nshop.staging.stg_orders\n"
    );
    let out = f.etlx(&["ls", "-s", "stg_orders", "--output", "path"]);
    assert_eq!(out.stdout, "models/staging/stg_orders.sql\n");
    let out = f.etlx(&["ls", "-s", "stg_orders", "--output", "json"]);
    let json: serde_json::Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(json["unique_id"], "model.shop.stg_orders");
    assert_eq!(
        json["depends_on"]["nodes"],
        serde_json::json!(["source.shop.raw.orders"])
    );
}

#[test]
fn a_resource_type_the_command_does_not_run_is_a_usage_error() {
    let f = Fixture::new("valid");
    let out = f.etlx(&["run", "--resource-type", "test"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("--resource-type leaves nothing to do"),
        "{}",
        out.stderr
    );
}

#[test]
fn unknown_selector_method_is_a_usage_error() {
    let f = Fixture::new("valid");
    let out = f.etlx(&["ls", "-s", "tga:daily"]);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("did you mean 'tag:'"), "{}", out.stderr);
}
