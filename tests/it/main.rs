//! Integration tests: the real `etlx` binary on real projects under `tests/fixtures/`.
//!
//! One test binary (every test binary links DuckDB, so more would multiply link time).

mod aws;
mod compile;
mod data_tests;
mod dbt_compat;
mod demo;
mod docs;
mod fixtures;
mod freshness;
mod harness;
mod kill;
mod layers;
mod lineage;
mod ls;
mod microbatch;
mod packages;
mod pg;
mod postgres;
mod properties;
mod run;
mod state;
mod unit_tests;
