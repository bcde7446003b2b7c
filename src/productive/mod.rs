//! Productive: reading and checking invoice exports (CSV and JSON:API).

mod currency;
mod fields;
pub mod model;
pub mod money;

pub use currency::is_known_currency;
pub use model::{Address, Client, DocumentKind, Invoice, Line, Problem};
