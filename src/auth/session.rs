//! Access tokens for API calls: refreshed before they expire or on a 401,
//! with one refresh at a time per profile across processes.
//!
//! Xero rotates the refresh token on every refresh and rejects a reused one
//! after a 30-minute grace window, so two cron jobs refreshing with the same
//! token would lock each other out. A file lock per profile serialises the
//! refresh; the process that waited re-reads the store and uses the token
//! set the other one saved. The new set is saved before it is used.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;

use crate::auth::oauth::{self, describe_token_error, is_transient, oauth_client, XeroOAuthClient};
use crate::auth::store::{open_store, TokenStore};
use crate::auth::tokens::{load_token_set, save_token_set, GrantKind, TokenSet};
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::fsutil::FileLock;
use crate::secret::Secret;

/// Refresh this long before the access token expires.
const REFRESH_MARGIN_SECS: i64 = 120;

/// How long a process waits for another one's refresh to finish.
const REFRESH_LOCK_WAIT: Duration = Duration::from_secs(60);

/// Attempts for one refresh when the response is lost. Every attempt
/// reuses the same refresh token, which Xero accepts again within its
/// 30-minute grace window.
const REFRESH_ATTEMPTS: u32 = 3;

/// Hands out access tokens for one profile.
pub struct Session {
    store: Box<dyn TokenStore>,
    profile: String,
    profile_flag: String,
    lock_path: PathBuf,
    client: XeroOAuthClient,
    http: reqwest::Client,
    current: Mutex<TokenSet>,
}

impl Session {
    /// Opens the profile's session, or exit 77 when it was never connected.
    pub fn open(settings: &Settings) -> Result<Arc<Session>> {
        let store = open_store(settings.token_store, settings.profile_dir());
        let tokens = load_token_set(store.as_ref(), &settings.profile)?.ok_or_else(|| {
            Error::not_connected(format!(
                "profile \"{}\" is not connected to Xero; run `xerosync connect{}` first",
                settings.profile,
                settings.profile_flag()
            ))
        })?;
        Self::with_tokens(settings, store, tokens)
    }

    pub fn with_tokens(
        settings: &Settings,
        store: Box<dyn TokenStore>,
        tokens: TokenSet,
    ) -> Result<Arc<Session>> {
        let client = oauth_client(settings, &tokens.client_id, tokens.client_secret.as_ref());
        Ok(Arc::new(Session {
            store,
            profile: settings.profile.clone(),
            profile_flag: settings.profile_flag(),
            lock_path: settings.profile_dir().join("refresh.lock"),
            client,
            http: oauth::identity_http_client()?,
            current: Mutex::new(tokens),
        }))
    }

    pub fn profile(&self) -> &str {
        &self.profile
    }

    /// Returns an access token valid for at least two more minutes.
    pub async fn access_token(&self) -> Result<Secret> {
        let mut current = self.current.lock().await;
        if current.access_token_fresh(chrono::Duration::seconds(REFRESH_MARGIN_SECS)) {
            return Ok(current
                .access_token
                .clone()
                .expect("a fresh token set has an access token"));
        }
        self.refresh_locked(&mut current, None).await
    }

    /// Replaces an access token that Xero rejected with 401, unless another
    /// task or process already did.
    pub async fn renew_after_rejection(&self, rejected: &Secret) -> Result<Secret> {
        let mut current = self.current.lock().await;
        if current.access_token.as_ref() != Some(rejected)
            && current.access_token_fresh(chrono::Duration::zero())
        {
            return Ok(current.access_token.clone().expect("checked above"));
        }
        self.refresh_locked(&mut current, Some(rejected)).await
    }

    async fn refresh_locked(
        &self,
        current: &mut TokenSet,
        rejected: Option<&Secret>,
    ) -> Result<Secret> {
        let lock_path = self.lock_path.clone();
        let _lock = tokio::task::spawn_blocking(move || {
            FileLock::acquire(
                &lock_path,
                REFRESH_LOCK_WAIT,
                "another xerosync process refreshing the Xero token",
            )
        })
        .await
        .map_err(|err| Error::failed(format!("token refresh task failed: {err}")))??;

        // Another process may have refreshed while this one waited for the lock.
        if let Some(stored) = load_token_set(self.store.as_ref(), &self.profile)? {
            let usable = stored.access_token_fresh(chrono::Duration::seconds(REFRESH_MARGIN_SECS))
                && stored.access_token.as_ref() != rejected;
            *current = stored;
            if usable {
                tracing::debug!(profile = %self.profile, "using the access token another process refreshed");
                return Ok(current.access_token.clone().expect("checked above"));
            }
        }

        let renewed = match current.grant {
            GrantKind::AuthorizationCode => self.refresh_with_token(current).await?,
            GrantKind::CustomConnection => self.fetch_client_credentials(current).await?,
        };

        // Saved before use: if this process dies now, the next one finds the
        // rotated refresh token instead of the one Xero just invalidated.
        save_token_set(self.store.as_ref(), &self.profile, &renewed)?;
        *current = renewed;
        tracing::debug!(profile = %self.profile, "access token refreshed and stored");
        Ok(current
            .access_token
            .clone()
            .expect("a new token set has an access token"))
    }

    async fn refresh_with_token(&self, current: &TokenSet) -> Result<TokenSet> {
        let refresh_token = current.refresh_token.clone().ok_or_else(|| {
            Error::not_connected(format!(
                "the stored Xero connection has no refresh token (was offline_access left out of the scopes?); run `xerosync connect{}`",
                self.profile_flag
            ))
        })?;

        let mut attempt = 0;
        loop {
            attempt += 1;
            match oauth::refresh(&self.client, &self.http, &refresh_token).await {
                Ok(response) => {
                    return Ok(oauth::token_set_from_response(
                        &response,
                        GrantKind::AuthorizationCode,
                        &current.client_id,
                        &current.scopes,
                        Some(current),
                    ));
                }
                Err(err) if is_transient(&err) && attempt < REFRESH_ATTEMPTS => {
                    tracing::warn!(
                        attempt,
                        "token refresh response lost; retrying with the same refresh token"
                    );
                    tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
                }
                Err(err) => {
                    return Err(describe_token_error(
                        &err,
                        "refreshing the Xero access token",
                        &self.profile_flag,
                    ))
                }
            }
        }
    }

    async fn fetch_client_credentials(&self, current: &TokenSet) -> Result<TokenSet> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match oauth::client_credentials(&self.client, &self.http, &[]).await {
                Ok(response) => {
                    return Ok(oauth::token_set_from_response(
                        &response,
                        GrantKind::CustomConnection,
                        &current.client_id,
                        &current.scopes,
                        Some(current),
                    ));
                }
                Err(err) if is_transient(&err) && attempt < REFRESH_ATTEMPTS => {
                    tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
                }
                Err(err) => {
                    return Err(describe_token_error(
                        &err,
                        "getting a Custom Connection access token",
                        &self.profile_flag,
                    ));
                }
            }
        }
    }

    /// Returns the token set as this process last loaded or refreshed it.
    pub async fn snapshot(&self) -> TokenSet {
        self.current.lock().await.clone()
    }
}
