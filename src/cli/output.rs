//! Every line the subcommands print goes through here, so that a closed stdout or stderr never
//! panics (`println!` and `eprintln!` panic on a write error, "failed printing to stdout: Broken
//! pipe").
//!
//! * stdout ([`to_stdout`], the `outln!` and `out!` macros): the command's result. A write that fails
//!   because the reader went away (`repq-hw info | head -1`, EPIPE) becomes
//!   [`Error::StdoutClosed`]: the command stops there, and the binary exits quietly with status
//!   141 (= 128 + SIGPIPE, what a shell reports for a tool ended by SIGPIPE, such as `cat` or
//!   `yes` in `yes | head -1`). Non-zero on purpose: a closed stdout must not turn a command
//!   that did not finish (a `verify` whose summary was never printed) into a success. Any other
//!   write error (a full disk under `> file`) is [`Error::Stdout`], reported like every error.
//! * stderr ([`to_stderr`], the `errln!` macro): progress notes and the final error message, best
//!   effort. A closed stderr loses them and changes nothing else (the exit status still tells
//!   success from failure).
//!
//! Progress bars (indicatif) draw on stderr only when it is a terminal and ignore write errors.

use std::fmt::Arguments;
use std::io::Write as _;

use crate::error::{Error, Result};

/// Exit status of a command whose stdout was closed by its reader: 128 + SIGPIPE (13).
pub const EXIT_STDOUT_CLOSED: u8 = 141;

/// Writes `args` to stdout and flushes (so that a closed pipe is noticed here, not at exit).
///
/// # Errors
/// [`Error::StdoutClosed`] when the reader closed the pipe, [`Error::Stdout`] for other failures.
pub fn to_stdout(args: Arguments<'_>) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_fmt(args)
        .and_then(|()| stdout.flush())
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                Error::StdoutClosed
            } else {
                Error::Stdout(e)
            }
        })
}

/// Writes `args` to stderr, ignoring failure (a closed stderr loses the note, nothing more).
pub fn to_stderr(args: Arguments<'_>) {
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_fmt(args).and_then(|()| stderr.flush());
}

/// `outln!("...", args)`: one line to stdout through [`to_stdout`]; evaluates to `Result<()>`.
macro_rules! outln {
    () => {
        $crate::cli::output::to_stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::output::to_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `out!("...", args)`: text to stdout through [`to_stdout`], no newline added; evaluates to
/// `Result<()>`.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::output::to_stdout(format_args!($($arg)*))
    };
}

/// `errln!("...", args)`: one line to stderr through [`to_stderr`] (best effort).
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::cli::output::to_stderr(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {errln, out, outln};
