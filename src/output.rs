//! Logging setup, tables, JSON documents and progress bars.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Sends `tracing` logs to stderr: warnings by default, requests with `-v`,
/// everything with `-vv`, only errors with `-q`; `RUST_LOG` wins when set.
pub fn init_logging(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "xerosync=debug,warn",
        (false, _) => "xerosync=trace,info",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

/// Creates a table for people: it fits the terminal's width, and wraps at
/// 140 characters when stdout is a file or a pipe.
pub fn table(header: Vec<&str>) -> comfy_table::Table {
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_BORDERS_ONLY);
    table.set_content_arrangement(comfy_table::ContentArrangement::Dynamic);
    if !std::io::stdout().is_terminal() {
        table.set_width(140);
    }
    table.set_header(header);
    table
}
