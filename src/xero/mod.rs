//! Xero: the HTTP client with its limits and retries, typed API calls,
//! error bodies and date formats.

pub mod api;
pub mod dates;
pub mod errors;
pub mod http;
