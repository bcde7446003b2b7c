//! Local doubles of Xero and Productive for tests and the sandbox example.

pub mod productive;
pub mod xero;
