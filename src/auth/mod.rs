//! Signing in to Xero and keeping the tokens: the PKCE browser flow, the
//! loopback callback listener, the token stores and the refresh session.

pub mod connect;
pub mod listener;
pub mod oauth;
pub mod session;
pub mod store;
pub mod tokens;
