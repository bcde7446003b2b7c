//! xerosync: push Productive invoices into Xero and bring payment statuses back.
//!
//! The binary in `main.rs` only parses the command line and maps errors to
//! exit codes. Everything else lives in this library, so that the tests and
//! the examples use the same code paths.

pub mod auth;
pub mod cli;
pub mod commands;
pub mod config;
pub mod error;
pub mod fsutil;
pub mod output;
pub mod productive;
pub mod sandbox;
pub mod secret;
pub mod sync;
pub mod xero;
