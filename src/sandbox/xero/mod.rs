//! A local double of Xero's identity server and accounting API.
