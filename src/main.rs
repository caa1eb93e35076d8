//! The `etlx` binary: everything terminal-facing lives in `cli`.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
