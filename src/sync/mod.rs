//! Synchronisation: invoices into Xero, payment statuses back.

pub mod invoices;
pub mod payments;
pub mod state;
