//! A string that must never be printed: tokens, codes, verifiers, API keys.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A secret value. `Debug` prints a fixed placeholder and there is no
/// `Display`, so a secret can only leave through [`Secret::expose`], which is
/// called where a request or the token store needs the raw value.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_value() {
        let secret = Secret::new("eyJhbGciOi-token-value");
        let printed = format!("{secret:?} {:?}", vec![secret.clone()]);
        assert!(!printed.contains("token-value"), "{printed}");
    }
}
