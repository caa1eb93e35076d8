//! The reference for `bench/throughput.sh`: the statements one `etlx build` sent to DuckDB
//! (logged with `ETLX_SQL_LOG`), executed by the duckdb crate directly, in the same order, on
//! one connection, with nothing around them. The difference between `etlx build` and this is
//! what the tool adds to the engine's own work.
//!
//! usage: cargo run --example replay_sql -- SQL_LOG DATABASE [DUCKDB_THREADS]

use std::time::Instant;

const SEPARATOR: &str = "\n-- etlx:end-of-statement\n";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (log, database) = match args.as_slice() {
        [_, log, database, ..] => (log, database),
        _ => return Err("usage: replay_sql SQL_LOG DATABASE [DUCKDB_THREADS]".into()),
    };
    let mut config = duckdb::Config::default().enable_autoload_extension(false)?;
    if let Some(threads) = args.get(3) {
        config = config.threads(threads.parse()?)?;
    }
    let conn = duckdb::Connection::open_with_flags(database, config)?;
    // Relative landing paths resolve from the project directory, as in etlx.
    if let Ok(dir) = std::env::current_dir() {
        let dir = dir.display().to_string().replace('\'', "''");
        conn.execute_batch(&format!("SET file_search_path = '{dir}'"))?;
    }
    // What etlx defines in every session (the bundled DuckDB has no ICU, see
    // adapter/duckdb.rs): the replayed SQL may call them, and read `temp` models from the
    // run's in-memory catalog.
    conn.execute_batch(
        "CREATE OR REPLACE TEMP MACRO current_date() AS CAST(now()::TIMESTAMP AS DATE); \
         CREATE OR REPLACE TEMP MACRO today() AS CAST(now()::TIMESTAMP AS DATE); \
         ATTACH ':memory:' AS etlx_run;",
    )?;
    let text = std::fs::read_to_string(log)?;
    let statements: Vec<&str> = text
        .split(SEPARATOR)
        .filter(|s| !s.trim().is_empty())
        .collect();
    let clock = Instant::now();
    let mut times: Vec<(f64, &str)> = Vec::new();
    for sql in &statements {
        let one = Instant::now();
        // A query's rows are read to the end, as etlx reads them. Everything else goes the
        // cheapest way, unprepared and uncounted: the reference is the engine's work alone.
        if is_query(sql) {
            let mut stmt = conn.prepare(sql)?;
            let mut rows = stmt.query([])?;
            while rows.next()?.is_some() {}
        } else {
            conn.execute_batch(sql)?;
        }
        times.push((one.elapsed().as_secs_f64(), sql));
    }
    // REPLAY_SLOWEST=N lists the N slowest statements, to see where the engine's time goes.
    if let Some(n) = std::env::var("REPLAY_SLOWEST")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        times.sort_by(|a, b| b.0.total_cmp(&a.0));
        for (t, sql) in times.iter().take(n) {
            let head: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
            eprintln!("{t:8.3} s  {}", head.chars().take(150).collect::<String>());
        }
    }
    println!(
        "{} statements in {:.3} s",
        statements.len(),
        clock.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Whether a statement returns rows to read (a data test, a catalog read).
fn is_query(sql: &str) -> bool {
    // Only the first word is compared: the loop is timed, and statements are large.
    let head = sql.trim_start();
    [
        "select",
        "with",
        "from",
        "describe",
        "show",
        "pragma",
        "summarize",
        "values",
    ]
    .iter()
    .any(|k| {
        head.get(..k.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(k))
    })
}
