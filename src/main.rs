//! The `repq-hw` binary: parses the command line, runs it, and turns any error into a message on
//! stderr and a non-zero exit.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = repq_hw::cli::Cli::parse();
    match repq_hw::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
