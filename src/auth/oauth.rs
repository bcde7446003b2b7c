//! The `oauth2` client for Xero's identity server and the token requests
//! every command shares: code exchange, refresh, client credentials.

use std::time::Duration;

use chrono::Utc;
use oauth2::basic::{BasicClient, BasicErrorResponse, BasicErrorResponseType, BasicTokenResponse};
use oauth2::{
    AuthType, AuthUrl, ClientId, ClientSecret, EndpointNotSet, EndpointSet, HttpClientError,
    RedirectUrl, RefreshToken, RequestTokenError, RevocationUrl, Scope, TokenResponse, TokenUrl,
};

use crate::auth::tokens::{GrantKind, TokenSet};
use crate::config::Settings;
use crate::error::{Error, Result};
use crate::secret::Secret;

/// An `oauth2` client with authorize, token and revocation endpoints set.
pub type XeroOAuthClient =
    BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointSet, EndpointSet>;

pub type TokenError = RequestTokenError<HttpClientError<reqwest::Error>, BasicErrorResponse>;

/// Timeout for one request to the identity server.
const IDENTITY_TIMEOUT: Duration = Duration::from_secs(30);

/// Builds the client. Public (PKCE) clients send `client_id` in the form
/// body; Custom Connections authenticate with HTTP Basic and the secret.
pub fn oauth_client(
    settings: &Settings,
    client_id: &str,
    client_secret: Option<&Secret>,
) -> XeroOAuthClient {
    let endpoints = &settings.endpoints;
    let mut client = BasicClient::new(ClientId::new(client_id.to_string()))
        .set_auth_uri(AuthUrl::from_url(endpoints.authorize_url.clone()))
        .set_token_uri(TokenUrl::from_url(endpoints.token_url.clone()))
        .set_revocation_url(RevocationUrl::from_url(endpoints.revoke_url.clone()))
        .set_redirect_uri(RedirectUrl::from_url(settings.redirect_uri.clone()));
    match client_secret {
        Some(secret) => {
            client = client
                .set_client_secret(ClientSecret::new(secret.expose().to_string()))
                .set_auth_type(AuthType::BasicAuth);
        }
        None => client = client.set_auth_type(AuthType::RequestBody),
    }
    client
}

/// Builds the HTTP client for token requests. Redirects are off, because a
/// token endpoint that redirects is misconfigured, and following it could
/// send the code or refresh token somewhere else.
pub fn identity_http_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(IDENTITY_TIMEOUT)
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("xerosync/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|err| Error::failed(format!("cannot set up the HTTP client: {err}")))
}

/// Turns a token response into the stored token set.
pub fn token_set_from_response(
    response: &BasicTokenResponse,
    grant: GrantKind,
    client_id: &str,
    requested_scopes: &[String],
    previous: Option<&TokenSet>,
) -> TokenSet {
    let expires_in = response.expires_in().unwrap_or(Duration::from_secs(1800));
    let scopes = match response.scopes() {
        Some(scopes) => scopes.iter().map(|scope| scope.to_string()).collect(),
        None => previous
            .map(|p| p.scopes.clone())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| requested_scopes.to_vec()),
    };
    TokenSet {
        grant,
        client_id: client_id.to_string(),
        access_token: Some(Secret::new(response.access_token().secret().clone())),
        access_token_expires_at: Some(
            Utc::now()
                + chrono::Duration::from_std(expires_in).unwrap_or(chrono::Duration::minutes(30)),
        ),
        refresh_token: response
            .refresh_token()
            .map(|token| Secret::new(token.secret().clone())),
        client_secret: previous.and_then(|p| p.client_secret.clone()),
        scopes,
        updated_at: Utc::now(),
    }
}

/// Requests a new token set with the refresh token.
pub async fn refresh(
    client: &XeroOAuthClient,
    http: &reqwest::Client,
    refresh_token: &Secret,
) -> Result<BasicTokenResponse, TokenError> {
    client
        .exchange_refresh_token(&RefreshToken::new(refresh_token.expose().to_string()))
        .request_async(http)
        .await
}

/// Requests an access token with the client-credentials grant.
pub async fn client_credentials(
    client: &XeroOAuthClient,
    http: &reqwest::Client,
    scopes: &[String],
) -> Result<BasicTokenResponse, TokenError> {
    let mut request = client.exchange_client_credentials();
    for scope in scopes {
        request = request.add_scope(Scope::new(scope.clone()));
    }
    request.request_async(http).await
}

/// Returns whether a token error is worth retrying (the request or response was lost).
pub fn is_transient(err: &TokenError) -> bool {
    matches!(err, RequestTokenError::Request(_))
}

/// Turns a token-endpoint failure into a message for the user.
pub fn describe_token_error(err: &TokenError, doing: &str, profile_flag: &str) -> Error {
    match err {
        RequestTokenError::ServerResponse(response) => match response.error() {
            BasicErrorResponseType::InvalidGrant => Error::not_connected(format!(
                "{doing}: Xero rejected the stored grant (invalid_grant). The connection was revoked, or it expired after 60 days without use. \
                 Run `xerosync connect{profile_flag}` to sign in again"
            )),
            BasicErrorResponseType::InvalidClient if doing.contains("Custom Connection") => Error::config(format!(
                "{doing}: Xero rejected the client id or secret (invalid_client). Check that XERO_CLIENT_ID (or client_id under [xero]) is the \
                 Custom Connection app's client id and that the secret is that app's current client secret"
            )),
            BasicErrorResponseType::InvalidClient => Error::config(format!(
                "{doing}: Xero rejected the client id or secret (invalid_client). Check client_id under [xero] (or XERO_CLIENT_ID) against the app at developer.xero.com; \
                 an app registered as \"Web app\" needs the PKCE type \"Auth code with PKCE\""
            )),
            BasicErrorResponseType::InvalidScope => Error::config(format!(
                "{doing}: Xero rejected the requested scopes (invalid_scope). Set the scopes your app may use with `--scopes \"...\"` or `scopes` under [xero]; \
                 apps created since March 2026 must use granular scopes such as accounting.invoices"
            )),
            other => Error::failed(format!(
                "{doing}: Xero's identity server returned \"{}\"{}",
                other.as_ref(),
                response.error_description().map(|d| format!(" ({d})")).unwrap_or_default()
            )),
        },
        RequestTokenError::Request(inner) => Error::temporary(format!(
            "{doing}: cannot reach Xero's identity server ({}); check the network and run again",
            describe_http_client_error(inner)
        )),
        RequestTokenError::Parse(_, _) => Error::temporary(format!("{doing}: Xero's identity server sent a response xerosync cannot read; try again later")),
        RequestTokenError::Other(message) => Error::temporary(format!("{doing}: unexpected response from Xero's identity server ({message}); try again later")),
    }
}

fn describe_http_client_error(err: &HttpClientError<reqwest::Error>) -> String {
    match err {
        HttpClientError::Reqwest(inner) if inner.is_timeout() => "timed out".into(),
        HttpClientError::Reqwest(inner) if inner.is_connect() => "connection failed".into(),
        HttpClientError::Reqwest(inner) => crate::xero::http::describe_reqwest_error(inner),
        HttpClientError::Io(inner) => inner.to_string(),
        HttpClientError::Http(inner) => inner.to_string(),
        HttpClientError::Other(message) => message.clone(),
        _ => "request failed".into(),
    }
}
