//! xero
