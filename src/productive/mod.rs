//! Productive: reading and checking invoice exports (CSV and JSON:API), and
//! the API client that records payments on Productive invoices.

pub mod api;
pub mod csv_export;
mod currency;
mod fields;
mod jsonapi_export;
pub mod model;
pub mod money;
pub mod validate;

use std::path::Path;

pub use api::{ProductiveClient, ProductiveInvoice, ProductivePayment, RetryPolicy};
pub use currency::is_known_currency;
pub use model::{Address, Client, DocumentKind, Invoice, Line, Problem};
pub use validate::validate;

use crate::config::Mapping;
use crate::error::{io_error, Error, Result};

/// Format of a Productive export file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// CSV export with one record per invoice line.
    Csv,
    /// JSON:API document of Productive's API (`GET /invoices` with `included` resources).
    JsonApi,
}

impl ExportFormat {
    /// Picks the format from the file extension: `.csv` or `.json`, in any case.
    /// Any other extension is a usage error whose message names the `--format` option.
    pub fn from_path_extension(path: &Path) -> Result<ExportFormat> {
        let extension = path
            .extension()
            .and_then(|extension| extension.to_str())
            .map(str::to_ascii_lowercase);
        match extension.as_deref() {
            Some("csv") => Ok(ExportFormat::Csv),
            Some("json") => Ok(ExportFormat::JsonApi),
            _ => Err(Error::usage(format!(
                "cannot tell the format of {} from its extension; pass --format csv|jsonapi",
                path.display()
            ))),
        }
    }
}

impl From<crate::cli::ExportFormat> for ExportFormat {
    fn from(format: crate::cli::ExportFormat) -> Self {
        match format {
            crate::cli::ExportFormat::Csv => ExportFormat::Csv,
            crate::cli::ExportFormat::Jsonapi => ExportFormat::JsonApi,
        }
    }
}

/// The invoices of an export and every problem found in it.
#[derive(Debug, Clone, Default)]
pub struct Export {
    /// Invoices in the order they first appear in the file.
    pub invoices: Vec<Invoice>,
    /// The reader's problems (unreadable values, inconsistent records) first,
    /// then the problems found by [`validate`]. Empty when the export can be sent.
    pub problems: Vec<Problem>,
}

/// Invoices and problems of a reader, before validation.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub invoices: Vec<Invoice>,
    pub problems: Vec<Problem>,
    /// One entry per invoice: whether one of its values could not be parsed.
    pub has_parse_problems: Vec<bool>,
}

/// Reads an export and validates it, so callers need not call [`validate`] again.
///
/// An unreadable file is an error naming the path. A readable file with bad
/// content returns every problem, never only the first. Problems name the
/// file as `path` is written.
pub fn read_export(path: &Path, format: ExportFormat, mapping: &Mapping) -> Result<Export> {
    let file = path.display().to_string();
    let parsed = match format {
        ExportFormat::Csv => {
            let input = std::fs::File::open(path).map_err(|err| {
                io_error("cannot open export", path, err)
                    .with_kind(crate::error::Kind::InvalidInput)
            })?;
            csv_export::read_csv(input, &file, mapping)?
        }
        ExportFormat::JsonApi => {
            let text = std::fs::read(path).map_err(|err| {
                io_error("cannot read export", path, err)
                    .with_kind(crate::error::Kind::InvalidInput)
            })?;
            jsonapi_export::read_jsonapi(&text, &file)?
        }
    };
    Ok(finish(parsed, &file, mapping))
}

/// Reads a CSV export from memory or any reader and validates it; `file`
/// names the file in problems.
pub fn read_csv_export<R: std::io::Read>(
    input: R,
    file: &str,
    mapping: &Mapping,
) -> Result<Export> {
    let parsed = csv_export::read_csv(input, file, mapping)?;
    Ok(finish(parsed, file, mapping))
}

/// Reads a JSON:API export from memory and validates it; `file` names the file in problems.
pub fn read_jsonapi_export(text: &[u8], file: &str, mapping: &Mapping) -> Result<Export> {
    let parsed = jsonapi_export::read_jsonapi(text, file)?;
    Ok(finish(parsed, file, mapping))
}

fn finish(parsed: Parsed, file: &str, mapping: &Mapping) -> Export {
    let mut problems = parsed.problems;
    problems.extend(validate::validate_parsed(
        file,
        &parsed.invoices,
        mapping,
        &parsed.has_parse_problems,
    ));
    Export {
        invoices: parsed.invoices,
        problems,
    }
}
