//! Xero's identity server: the authorize page, the token endpoint (code with
//! PKCE, refresh with rotation, client credentials), revocation and the
//! `/connections` list of tenants.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::Utc;
use rand::distributions::Alphanumeric;
use rand::Rng;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::format::iso_without_zone;
use super::limits;
use super::server::{Handled, Incoming, Reply, Shared};
use super::state::{AccessToken, AuthCode, ConnectionOwner, Grant, RefreshToken, State};
use super::Consent;

/// Lifetime of an authorization code.
const CODE_LIFETIME: Duration = Duration::from_secs(5 * 60);
/// Xero drops a refresh token that has not been used for 60 days.
const REFRESH_TOKEN_IDLE_LIFETIME: Duration = Duration::from_secs(60 * 24 * 60 * 60);

/// Scopes Xero's authorize endpoint accepts. Anything else is redirected
/// back with `error=invalid_scope`.
const KNOWN_SCOPES: &[&str] = &[
    "openid",
    "profile",
    "email",
    "offline_access",
    "accounting.transactions",
    "accounting.transactions.read",
    "accounting.invoices",
    "accounting.invoices.read",
    "accounting.payments",
    "accounting.payments.read",
    "accounting.banktransactions",
    "accounting.banktransactions.read",
    "accounting.manualjournals",
    "accounting.manualjournals.read",
    "accounting.classicexpenses",
    "accounting.classicexpenses.read",
    "accounting.contacts",
    "accounting.contacts.read",
    "accounting.settings",
    "accounting.settings.read",
    "accounting.attachments",
    "accounting.attachments.read",
    "accounting.reports.read",
    "accounting.reports.profitandloss.read",
    "accounting.reports.balancesheet.read",
    "accounting.reports.trialbalance.read",
    "accounting.reports.executivesummary.read",
    "accounting.reports.aged.read",
    "accounting.reports.tenninetynine.read",
    "accounting.journals.read",
    "accounting.budgets.read",
    "paymentservices",
];

/// Scopes of a client-credentials token when the request names none: full
/// access to what xerosync uses, as a custom connection set up for it has.
const CUSTOM_CONNECTION_SCOPES: &str =
    "accounting.invoices accounting.payments accounting.contacts accounting.settings";

pub(crate) fn handle(shared: &Shared, incoming: &Incoming) -> Handled {
    let mut state = shared.lock();
    let path = incoming.path.as_str();
    let reply = match (incoming.method.as_str(), path) {
        ("GET", "/identity/connect/authorize") => authorize(&mut state, incoming),
        ("POST", "/connect/token") => token(&mut state, incoming),
        ("POST", "/connect/revocation") => revoke(&mut state, incoming),
        ("GET", "/connections") => list_connections(&mut state, incoming),
        ("DELETE", _) if path.starts_with("/connections/") => {
            delete_connection(&mut state, incoming)
        }
        _ => Reply::not_found(),
    };
    reply.into()
}

fn random_token(prefix: &str) -> String {
    let random: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(48)
        .map(char::from)
        .collect();
    format!("{prefix}{random}")
}

/// Returns base64url without padding of the SHA-256 of the verifier, the
/// PKCE `S256` challenge.
pub(crate) fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn is_valid_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-._~".contains(&byte))
}

fn authorize(state: &mut State, incoming: &Incoming) -> Reply {
    let params: HashMap<String, String> = url::form_urlencoded::parse(incoming.query.as_bytes())
        .into_owned()
        .collect();
    let param = |name: &str| params.get(name).map(String::as_str).unwrap_or("");

    // Xero shows an error page and does not redirect when it cannot trust
    // the client or the redirect URI.
    if param("client_id") != state.config.client_id {
        return error_page("unauthorized_client : Unknown client or client not enabled");
    }
    let redirect_uri = param("redirect_uri");
    if !state
        .config
        .redirect_uris
        .iter()
        .any(|uri| uri == redirect_uri)
    {
        return error_page("unauthorized_client : Invalid redirect_uri");
    }

    let client_state = params.get("state").cloned();
    let redirect_error = |error: &str| {
        let mut pairs = vec![("error", error.to_string())];
        if let Some(value) = &client_state {
            pairs.push(("state", value.clone()));
        }
        Reply::redirect(&with_query(redirect_uri, &pairs))
    };

    if param("response_type") != "code" {
        return redirect_error("unsupported_response_type");
    }
    let scopes: Vec<String> = param("scope")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    let all_known = scopes
        .iter()
        .all(|scope| KNOWN_SCOPES.contains(&scope.as_str()));
    if scopes.is_empty() || !all_known {
        return redirect_error("invalid_scope");
    }
    // A PKCE app must send a challenge, and Xero supports only S256.
    if param("code_challenge").is_empty() || param("code_challenge_method") != "S256" {
        return redirect_error("invalid_request");
    }

    let granted_tenants: Vec<String> = match &state.consent {
        Consent::Deny => return redirect_error("access_denied"),
        Consent::SelectTenants(selected) => selected.clone(),
        Consent::Allow | Consent::WrongState => state
            .tenants
            .iter()
            .map(|tenant| tenant.seed.tenant_id.clone())
            .collect(),
    };
    let auth_event_id = uuid::Uuid::new_v4().to_string();
    for tenant_id in &granted_tenants {
        if state.tenant(tenant_id).is_some() {
            state.connect_tenant(tenant_id, &auth_event_id, ConnectionOwner::User);
        }
    }

    let code = random_token("sbx_code_");
    state.auth.codes.insert(
        code.clone(),
        AuthCode {
            client_id: param("client_id").to_string(),
            redirect_uri: redirect_uri.to_string(),
            code_challenge: param("code_challenge").to_string(),
            scopes: scopes.clone(),
            auth_event_id,
            issued: Instant::now(),
            used: false,
        },
    );

    let returned_state = match state.consent {
        Consent::WrongState => Some(random_token("sbx_state_")),
        _ => client_state.clone(),
    };
    let mut pairs = vec![("code", code)];
    if let Some(value) = returned_state {
        pairs.push(("state", value));
    }
    pairs.push(("scope", scopes.join(" ")));
    Reply::redirect(&with_query(redirect_uri, &pairs))
}

fn with_query(base: &str, pairs: &[(&str, String)]) -> String {
    match url::Url::parse(base) {
        Ok(mut url) => {
            url.query_pairs_mut()
                .extend_pairs(pairs.iter().map(|(key, value)| (*key, value.as_str())));
            url.to_string()
        }
        Err(_) => base.to_string(),
    }
}

fn error_page(message: &str) -> Reply {
    let html = format!(
        "<!DOCTYPE html>\n<html><head><title>Error</title></head>\
         <body><h1>Sorry, something went wrong</h1><p>Error: {message}</p></body></html>\n"
    );
    Reply::html(400, &html)
}

fn token_error(status: u16, error: &str) -> Reply {
    Reply::json(status, &json!({ "error": error }))
}

/// Reads HTTP Basic credentials, which confidential clients send.
fn basic_credentials(incoming: &Incoming) -> Option<(String, String)> {
    let header = incoming.header("authorization")?;
    let encoded = header
        .strip_prefix("Basic ")
        .or_else(|| header.strip_prefix("basic "))?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let decode = |text: &str| {
        url::form_urlencoded::parse(format!("x={text}").as_bytes())
            .next()
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default()
    };
    Some((decode(id), decode(secret)))
}

fn token(state: &mut State, incoming: &Incoming) -> Reply {
    let form = incoming.form();
    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => exchange_code(state, incoming, &form),
        Some("refresh_token") => refresh(state, incoming, &form),
        Some("client_credentials") => client_credentials(state, incoming, &form),
        _ => token_error(400, "unsupported_grant_type"),
    }
}

/// Checks that the request comes from the registered PKCE app, which sends
/// its `client_id` in the body (or as the Basic user name).
fn check_public_client(
    state: &State,
    incoming: &Incoming,
    form: &HashMap<String, String>,
) -> Result<String, Reply> {
    if let Some((id, _)) = basic_credentials(incoming) {
        if id != state.config.client_id {
            return Err(token_error(401, "invalid_client"));
        }
        return Ok(id);
    }
    match form.get("client_id") {
        Some(id) if *id == state.config.client_id => Ok(id.clone()),
        _ => Err(token_error(400, "invalid_client")),
    }
}

fn exchange_code(state: &mut State, incoming: &Incoming, form: &HashMap<String, String>) -> Reply {
    let client_id = match check_public_client(state, incoming, form) {
        Ok(id) => id,
        Err(reply) => return reply,
    };
    let code_text = form.get("code").cloned().unwrap_or_default();
    let Some(code) = state.auth.codes.get_mut(&code_text) else {
        return token_error(400, "invalid_grant");
    };
    // A code is single use: any exchange attempt consumes it, even one that
    // fails the checks below.
    let already_used = code.used;
    code.used = true;
    if already_used || code.issued.elapsed() > CODE_LIFETIME {
        return token_error(400, "invalid_grant");
    }
    if code.client_id != client_id || form.get("redirect_uri") != Some(&code.redirect_uri) {
        return token_error(400, "invalid_grant");
    }
    let verifier = form.get("code_verifier").map(String::as_str).unwrap_or("");
    if !is_valid_verifier(verifier) || pkce_challenge(verifier) != code.code_challenge {
        state.pkce_failures += 1;
        return token_error(400, "invalid_grant");
    }

    let scopes = code.scopes.clone();
    let grant_id = code.auth_event_id.clone();
    state.auth.grants.insert(
        grant_id.clone(),
        Grant {
            client_id,
            scopes,
            owner: ConnectionOwner::User,
            revoked: false,
        },
    );
    issue_tokens(state, &grant_id)
}

fn refresh(state: &mut State, incoming: &Incoming, form: &HashMap<String, String>) -> Reply {
    let client_id = match check_public_client(state, incoming, form) {
        Ok(id) => id,
        Err(reply) => return reply,
    };
    let grace = state.config.refresh_grace;
    let presented = form.get("refresh_token").cloned().unwrap_or_default();
    let Some(token) = state.auth.refresh_tokens.get_mut(&presented) else {
        return token_error(400, "invalid_grant");
    };
    let Some(grant) = state.auth.grants.get(&token.grant_id) else {
        return token_error(400, "invalid_grant");
    };
    if token.revoked || grant.revoked || grant.client_id != client_id {
        return token_error(400, "invalid_grant");
    }

    let now = Instant::now();
    if now.duration_since(token.last_used) > REFRESH_TOKEN_IDLE_LIFETIME {
        return token_error(400, "invalid_grant");
    }
    // Xero rotates the refresh token on every use, but accepts the old one
    // again for a grace period in case the client lost the response.
    match token.rotated {
        Some(rotated) if now.duration_since(rotated) > grace => {
            return token_error(400, "invalid_grant")
        }
        Some(_) => {}
        None => token.rotated = Some(now),
    }
    token.last_used = now;
    let grant_id = token.grant_id.clone();
    issue_tokens(state, &grant_id)
}

fn client_credentials(
    state: &mut State,
    incoming: &Incoming,
    form: &HashMap<String, String>,
) -> Reply {
    let presented = basic_credentials(incoming).or_else(|| {
        let id = form.get("client_id")?.clone();
        let secret = form.get("client_secret")?.clone();
        Some((id, secret))
    });
    let Some((expected_id, expected_secret, _)) = state.config.custom_connection.clone() else {
        return token_error(401, "invalid_client");
    };
    if presented != Some((expected_id.clone(), expected_secret)) {
        return token_error(401, "invalid_client");
    }

    let scopes: Vec<String> = form
        .get("scope")
        .map(String::as_str)
        .unwrap_or(CUSTOM_CONNECTION_SCOPES)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if !scopes
        .iter()
        .all(|scope| KNOWN_SCOPES.contains(&scope.as_str()))
    {
        return token_error(400, "invalid_scope");
    }
    let grant_id = uuid::Uuid::new_v4().to_string();
    state.auth.grants.insert(
        grant_id.clone(),
        Grant {
            client_id: expected_id,
            scopes,
            owner: ConnectionOwner::CustomConnection,
            revoked: false,
        },
    );
    issue_tokens(state, &grant_id)
}

/// Issues an access token and, when the grant has `offline_access`, a new
/// refresh token.
fn issue_tokens(state: &mut State, grant_id: &str) -> Reply {
    let lifetime = state.config.access_token_lifetime;
    let grant = &state.auth.grants[grant_id];
    let scope = grant.scopes.join(" ");
    // Xero issues a refresh token only for `offline_access`, and never to a
    // custom connection.
    let wants_refresh =
        grant.owner == ConnectionOwner::User && grant.scopes.iter().any(|s| s == "offline_access");

    let access_token = random_token("sbx_at_");
    let expires_wall =
        Utc::now() + chrono::Duration::from_std(lifetime).unwrap_or(chrono::Duration::MAX);
    state.auth.access_tokens.insert(
        access_token.clone(),
        AccessToken {
            grant_id: grant_id.to_string(),
            expires: Instant::now() + lifetime,
            expires_wall,
        },
    );
    let mut body = json!({
        "access_token": access_token,
        "expires_in": lifetime.as_secs(),
        "token_type": "Bearer",
        "scope": scope,
    });

    if wants_refresh {
        let refresh_token = random_token("sbx_rt_");
        state.auth.refresh_tokens.insert(
            refresh_token.clone(),
            RefreshToken {
                grant_id: grant_id.to_string(),
                rotated: None,
                last_used: Instant::now(),
                revoked: false,
            },
        );
        body["refresh_token"] = Value::String(refresh_token);
    }
    Reply::json(200, &body)
}

/// Revokes the grant of a refresh token. Xero's revocation also drops all of
/// the user's connections to the app. Unknown tokens get 200, as RFC 7009
/// specifies.
fn revoke(state: &mut State, incoming: &Incoming) -> Reply {
    let form = incoming.form();
    let client_id = basic_credentials(incoming)
        .map(|(id, _)| id)
        .or_else(|| form.get("client_id").cloned());
    if client_id.as_deref() != Some(state.config.client_id.as_str()) {
        return token_error(401, "invalid_client");
    }
    let presented = form.get("token").cloned().unwrap_or_default();
    let Some(grant_id) = state
        .auth
        .refresh_tokens
        .get(&presented)
        .map(|token| token.grant_id.clone())
    else {
        return Reply::empty(200);
    };
    if let Some(grant) = state.auth.grants.get_mut(&grant_id) {
        grant.revoked = true;
    }
    for token in state.auth.refresh_tokens.values_mut() {
        if token.grant_id == grant_id {
            token.revoked = true;
        }
    }
    state
        .connections
        .retain(|connection| connection.owner != ConnectionOwner::User);
    Reply::empty(200)
}

/// Xero's 401 body for a missing, unknown or expired access token.
pub(crate) fn unauthorized(detail: &str) -> Reply {
    let body = json!({
        "Type": null,
        "Title": "Unauthorized",
        "Status": 401,
        "Detail": detail,
        "Instance": uuid::Uuid::new_v4().to_string(),
        "Extensions": {},
    });
    let mut reply = Reply::json(401, &body);
    reply
        .headers
        .push(("WWW-Authenticate".into(), "Bearer".into()));
    reply
}

/// Finds the grant behind the request's bearer token, or builds the 401.
pub(crate) fn authenticate<'s>(
    state: &'s State,
    incoming: &Incoming,
) -> Result<(&'s str, &'s Grant), Reply> {
    let header = incoming.header("authorization").unwrap_or("");
    let Some(presented) = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
    else {
        return Err(unauthorized("AuthenticationUnsuccessful: no bearer token"));
    };
    let Some(token) = state.auth.access_tokens.get(presented.trim()) else {
        return Err(unauthorized(
            "TokenInvalid: the access token was not issued by this server",
        ));
    };
    if Instant::now() >= token.expires {
        let at = token.expires_wall.format("%m/%d/%Y %H:%M:%S");
        return Err(unauthorized(&format!(
            "TokenExpired: token expired at {at}"
        )));
    }
    match state.auth.grants.get_key_value(&token.grant_id) {
        Some((grant_id, grant)) => Ok((grant_id.as_str(), grant)),
        None => Err(unauthorized("TokenInvalid: the grant no longer exists")),
    }
}

/// Counts an app call for `/connections`, which is tenantless: only
/// `X-AppMinLimit-Remaining` comes back.
fn count_app_call(state: &mut State) -> (String, String) {
    let now = Instant::now();
    let window = state.config.minute_window;
    state.app_minute.count_call(now, window);
    let remaining = state
        .app_minute
        .remaining(now, window, limits::APP_MINUTE_LIMIT);
    ("X-AppMinLimit-Remaining".into(), remaining.to_string())
}

fn list_connections(state: &mut State, incoming: &Incoming) -> Reply {
    let owner = match authenticate(state, incoming) {
        Ok((_, grant)) => grant.owner,
        Err(reply) => return reply,
    };
    let auth_event_filter = incoming.query_param("authEventId");
    let connections: Vec<Value> = state
        .connections
        .iter()
        .filter(|connection| connection.owner == owner)
        .filter(|connection| {
            auth_event_filter
                .as_deref()
                .is_none_or(|wanted| wanted.eq_ignore_ascii_case(&connection.auth_event_id))
        })
        .filter_map(|connection| {
            let tenant = state.tenant(&connection.tenant_id)?;
            Some(json!({
                "id": connection.id,
                "authEventId": connection.auth_event_id,
                "tenantId": connection.tenant_id,
                "tenantType": tenant.seed.tenant_type,
                "tenantName": tenant.seed.name,
                "createdDateUtc": iso_without_zone(connection.created),
                "updatedDateUtc": iso_without_zone(connection.updated),
            }))
        })
        .collect();
    let mut reply = Reply::json(200, &Value::Array(connections));
    reply.headers.push(count_app_call(state));
    reply
}

fn delete_connection(state: &mut State, incoming: &Incoming) -> Reply {
    let owner = match authenticate(state, incoming) {
        Ok((_, grant)) => grant.owner,
        Err(reply) => return reply,
    };
    let id = incoming.path.trim_start_matches("/connections/");
    let before = state.connections.len();
    state.connections.retain(|connection| {
        !(connection.owner == owner && connection.id.eq_ignore_ascii_case(id))
    });
    let status = if state.connections.len() < before {
        204
    } else {
        404
    };
    let mut reply = Reply::empty(status);
    reply.headers.push(count_app_call(state));
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_matches_rfc_7636_example() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(
            pkce_challenge(verifier),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn verifier_format() {
        assert!(is_valid_verifier(&"a".repeat(43)));
        assert!(!is_valid_verifier(&"a".repeat(42)));
        assert!(!is_valid_verifier(&format!("{}!", "a".repeat(43))));
    }
}
