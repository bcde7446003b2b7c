//! Command-line definition (clap types only; the work happens in `commands`).

use std::path::PathBuf;

use clap::builder::BoolishValueParser;
use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "xerosync",
    version,
    about = "Push Productive invoices into Xero and bring payment statuses back",
    long_about = "Push Productive invoices into Xero and bring payment statuses back.\n\n\
        First run `xerosync connect` to authorise xerosync in Xero, then \
        `xerosync tenants --select NAME` to choose the organisation. At month end run \
        `xerosync sync invoices EXPORT.csv`; from cron run `xerosync sync payments -q`.",
    after_help = "Exit codes: 0 done, 1 some invoices or payments failed, 2 wrong usage, \
        65 invalid input file (nothing sent), 75 temporary failure (safe to rerun), \
        77 not connected (run `xerosync connect`), 78 invalid configuration."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Config file to read and write [default: $XEROSYNC_HOME/config.toml, else ~/.config/xerosync/config.toml]
    #[arg(long, global = true, env = "XEROSYNC_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Connection profile to use, one per Xero organisation [default: default]
    #[arg(long, global = true, env = "XEROSYNC_PROFILE", value_name = "NAME")]
    pub profile: Option<String>,

    /// Print one JSON document on stdout instead of text for people
    #[arg(long, global = true)]
    pub json: bool,

    /// Log more on stderr: -v for each request, -vv for everything (RUST_LOG overrides)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Print only errors (on stderr) and no progress bars
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// Never prompt; fail with a message instead (also when stdin is not a terminal)
    #[arg(long, global = true, env = "XEROSYNC_NON_INTERACTIVE", value_parser = BoolishValueParser::new())]
    pub non_interactive: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Authorise xerosync in Xero (browser sign-in) and store the tokens
    Connect(ConnectArgs),
    /// Show the connection, the selected organisation and the last sync times
    Status,
    /// Revoke xerosync's access at Xero and delete the stored tokens
    Disconnect(DisconnectArgs),
    /// List the Xero organisations of the connection and select one
    Tenants(TenantsArgs),
    /// Push invoices to Xero or bring payments back
    #[command(subcommand)]
    Sync(SyncCommand),
    /// Print a shell completion script to stdout
    Completions {
        /// Shell to print the script for
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Clone, Args)]
pub struct ConnectArgs {
    /// Only print the sign-in address, do not open a browser; the final redirect address can then be pasted on stdin (for SSH sessions)
    #[arg(long)]
    pub no_browser: bool,

    /// Seconds to wait for the browser sign-in before giving up
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub timeout: u64,

    /// Xero scopes to request, separated by spaces [default: the config's xero.scopes, else granular scopes for invoices, contacts, settings and payments]
    #[arg(long, value_name = "\"a b c\"")]
    pub scopes: Option<String>,

    /// Set up a Xero Custom Connection (client-credentials grant, no browser); the client secret is read from stdin or XERO_CLIENT_SECRET
    #[arg(long, conflicts_with_all = ["no_browser", "productive"])]
    pub custom_connection: bool,

    /// Store a Productive API token for payment write-back instead of connecting to Xero; the token is read from stdin
    #[arg(long)]
    pub productive: bool,
}

#[derive(Debug, Clone, Args)]
pub struct DisconnectArgs {
    /// Only delete the tokens stored on this machine; make no call to Xero
    #[arg(long)]
    pub local_only: bool,
}

#[derive(Debug, Clone, Args)]
pub struct TenantsArgs {
    /// Select this organisation, by tenant id or by name, without prompting
    #[arg(long, value_name = "ID_OR_NAME")]
    pub select: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// Push the invoices of a Productive export into the selected Xero organisation
    #[command(after_long_help = "Examples:\n  \
        xerosync sync invoices --dry-run november.csv     check the file and show what would be sent\n  \
        xerosync sync invoices november.csv               send it\n  \
        xerosync sync invoices --json invoices.json       JSON:API document, report as JSON\n\n\
        Running the same export again is safe: invoices already in Xero are reported as already in Xero and left alone.")]
    Invoices(SyncInvoicesArgs),
    /// Bring payment statuses of pushed invoices back from Xero (made for cron)
    #[command(after_long_help = "Examples:\n  \
        xerosync sync payments                            show what changed since the last run\n  \
        xerosync sync payments -q --output report.csv     quiet, for cron; report written as CSV\n  \
        xerosync sync payments --since 2026-11-01T00:00:00Z\n\n\
        Exit codes for cron: 0 done, 1 something needs a person, 75 try again later, 77 run `xerosync connect`.")]
    Payments(SyncPaymentsArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// Productive CSV export, one row per invoice line
    Csv,
    /// JSON:API document of Productive's API
    Jsonapi,
}

#[derive(Debug, Clone, Args)]
pub struct SyncInvoicesArgs {
    /// The Productive export: a .csv file or a .json JSON:API document
    #[arg(value_name = "EXPORT")]
    pub export: PathBuf,

    /// Format of the export [default: from the file extension]
    #[arg(long, value_enum)]
    pub format: Option<ExportFormat>,

    /// Validate and show what would be sent, without writing to Xero
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Args)]
pub struct SyncPaymentsArgs {
    /// Fetch changes since this time (RFC 3339 such as 2026-11-01T00:00:00Z, or a date) instead of since the last run
    #[arg(long, value_name = "RFC3339_TIME", value_parser = parse_since)]
    pub since: Option<chrono::DateTime<chrono::FixedOffset>>,

    /// Also write the report to this file: CSV for .csv, JSON for .json (replaced atomically)
    #[arg(long, value_name = "PATH")]
    pub output: Option<PathBuf>,
}

/// Parses `--since`: an RFC 3339 time, or a plain date read as midnight UTC.
fn parse_since(text: &str) -> Result<chrono::DateTime<chrono::FixedOffset>, String> {
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(text.trim()) {
        return Ok(time);
    }
    if let Ok(date) = chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d") {
        return Ok(date
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc()
            .fixed_offset());
    }
    Err(format!("\"{text}\" is not a time; write it as RFC 3339, such as 2026-11-01T00:00:00Z, or as a date, such as 2026-11-01"))
}
