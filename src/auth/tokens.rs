//! The Xero token set as kept in the token store, and the Productive token.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::auth::store::TokenStore;
use crate::error::{Error, Result};
use crate::secret::Secret;

/// Grant through which the profile obtains access tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantKind {
    /// Authorization code with PKCE: a person consented; refresh tokens rotate.
    AuthorizationCode,
    /// Xero Custom Connection: client-credentials grant with a client secret.
    CustomConnection,
}

/// Everything xerosync keeps to call Xero for one profile.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenSet {
    pub grant: GrantKind,
    pub client_id: String,
    pub access_token: Option<Secret>,
    pub access_token_expires_at: Option<DateTime<Utc>>,
    pub refresh_token: Option<Secret>,
    /// Custom Connection only: the client secret, read once from stdin or env.
    #[serde(default)]
    pub client_secret: Option<Secret>,
    #[serde(default)]
    pub scopes: Vec<String>,
    pub updated_at: DateTime<Utc>,
}

impl TokenSet {
    /// Returns whether the access token stays valid for at least `margin`.
    pub fn access_token_fresh(&self, margin: chrono::Duration) -> bool {
        match (&self.access_token, self.access_token_expires_at) {
            (Some(_), Some(expires_at)) => expires_at - margin > Utc::now(),
            _ => false,
        }
    }
}

pub fn xero_key(profile: &str) -> String {
    format!("xero:{profile}")
}

pub fn productive_key(profile: &str) -> String {
    format!("productive:{profile}")
}

/// Loads the profile's token set; `None` when the profile was never connected.
pub fn load_token_set(store: &dyn TokenStore, profile: &str) -> Result<Option<TokenSet>> {
    let Some(document) = store.load(&xero_key(profile))? else {
        return Ok(None);
    };
    serde_json::from_str(&document).map(Some).map_err(|err| {
        Error::not_connected(format!(
            "the stored Xero tokens of profile \"{profile}\" are unreadable ({err}); run `xerosync connect` again"
        ))
    })
}

pub fn save_token_set(store: &dyn TokenStore, profile: &str, tokens: &TokenSet) -> Result<()> {
    let document = serde_json::to_string(tokens).expect("a token set always serializes");
    store.save(&xero_key(profile), &document)
}

/// Loads the profile's stored Productive API token, if any.
pub fn load_productive_token(store: &dyn TokenStore, profile: &str) -> Result<Option<Secret>> {
    Ok(store.load(&productive_key(profile))?.map(Secret::new))
}
