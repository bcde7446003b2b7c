//! Synchronisation: invoices into Xero, payment statuses back.

pub mod state;
