//! One module per command; `run` dispatches the parsed command line.

use crate::cli::Cli;
use crate::error::Result;

/// Runs the command and returns the exit code for a run that did not fail outright.
pub fn run(cli: Cli) -> Result<i32> {
    let _ = cli;
    Ok(0)
}
