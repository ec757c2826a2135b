//! The `repq-hw` binary: parses the command line, runs it, and turns any error into a message on
//! stderr and a non-zero exit. A closed stdout ends the command quietly with status 141, a closed
//! stderr loses the messages only (see `repq_hw::cli::output`); neither panics.

use clap::Parser;

use repq_hw::cli::output::{EXIT_STDOUT_CLOSED, to_stderr};
use repq_hw::error::Error;

fn main() -> std::process::ExitCode {
    let cli = repq_hw::cli::Cli::parse();
    match repq_hw::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(Error::StdoutClosed) => std::process::ExitCode::from(EXIT_STDOUT_CLOSED),
        Err(e) => {
            to_stderr(format_args!("error: {e}\n"));
            std::process::ExitCode::FAILURE
        }
    }
}
