//! The one HTTP client every command uses to call Xero.
//!
//! It adds the bearer token, `xero-tenant-id` and `Accept: application/json`
//! to every request. It refreshes the token before expiry, and once on a 401.
//! It keeps at most five requests in flight per tenant, Xero's concurrency
//! limit. It waits out `Retry-After` on a minute-limit 429 and stops on the
//! daily limit. It retries 5xx responses and lost connections with exponential
//! backoff and jitter. Writes are re-sent only with the same `Idempotency-Key`,
//! so a retried write cannot create a second record.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rand::Rng;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::sync::Semaphore;
use url::Url;

use crate::auth::session::Session;
use crate::error::{Error, Result};
use crate::xero::errors::describe_error_body;

/// Xero allows five requests in flight per tenant.
pub const MAX_IN_FLIGHT_PER_TENANT: usize = 5;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Attempts for a request that fails with 5xx or a lost connection.
const MAX_ATTEMPTS: u32 = 5;
const BACKOFF_BASE: Duration = Duration::from_millis(250);

/// 429 responses waited out before the run gives up (exit 75).
const MAX_RATE_LIMIT_WAITS: u32 = 30;
/// Maximum single `Retry-After` wait for the minute limit. A longer wait ends the run.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

/// The organisation every accounting request is sent to.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub id: String,
    pub name: String,
}

/// One request to Xero.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub method: Method,
    /// Path under the API root, such as `/api.xro/2.0/Invoices` or `/connections`.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Option<Value>,
    pub idempotency_key: Option<String>,
    pub if_modified_since: Option<DateTime<Utc>>,
}

impl ApiRequest {
    pub fn get(path: impl Into<String>) -> Self {
        ApiRequest {
            method: Method::GET,
            path: path.into(),
            query: Vec::new(),
            body: None,
            idempotency_key: None,
            if_modified_since: None,
        }
    }

    pub fn write(
        method: Method,
        path: impl Into<String>,
        body: Value,
        idempotency_key: String,
    ) -> Self {
        ApiRequest {
            method,
            path: path.into(),
            query: Vec::new(),
            body: Some(body),
            idempotency_key: Some(idempotency_key),
            if_modified_since: None,
        }
    }

    pub fn query(mut self, key: &str, value: impl Into<String>) -> Self {
        self.query.push((key.to_string(), value.into()));
        self
    }

    fn is_write(&self) -> bool {
        self.method != Method::GET && self.method != Method::HEAD
    }
}

/// A successful (2xx) response.
#[derive(Debug)]
pub struct ApiResponse {
    pub status: u16,
    pub body: Value,
}

pub struct XeroClient {
    http: reqwest::Client,
    api_url: Url,
    session: Arc<Session>,
    tenant: Option<Tenant>,
    permits: Arc<Semaphore>,
}

impl XeroClient {
    pub fn new(api_url: Url, session: Arc<Session>, tenant: Option<Tenant>) -> Result<XeroClient> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("xerosync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| Error::failed(format!("cannot set up the HTTP client: {err}")))?;
        Ok(XeroClient {
            http,
            api_url,
            session,
            tenant,
            permits: Arc::new(Semaphore::new(MAX_IN_FLIGHT_PER_TENANT)),
        })
    }

    pub fn tenant(&self) -> Option<&Tenant> {
        self.tenant.as_ref()
    }

    pub fn session(&self) -> &Arc<Session> {
        &self.session
    }

    /// Sends the request, handling tokens, limits and transient faults.
    pub async fn send(&self, request: &ApiRequest) -> Result<ApiResponse> {
        let mut attempt: u32 = 0;
        let mut rate_limit_waits: u32 = 0;
        let mut renewed = false;
        let mut token = self.session.access_token().await?;

        loop {
            attempt += 1;
            let permit = self
                .permits
                .acquire()
                .await
                .expect("the semaphore is never closed");
            let started = Instant::now();
            let result = self.build(request, token.expose()).send().await;

            let response = match result {
                Ok(response) => response,
                Err(err) => {
                    drop(permit);
                    tracing::debug!(method = %request.method, path = %request.path, elapsed_ms = started.elapsed().as_millis() as u64, "request failed: {}", describe_reqwest_error(&err));
                    if attempt < MAX_ATTEMPTS {
                        self.backoff(attempt, request, "connection failed").await;
                        continue;
                    }
                    return Err(Error::temporary(format!(
                        "{} {} failed after {attempt} attempts ({}); Xero may be unreachable, run again later",
                        request.method,
                        request.path,
                        describe_reqwest_error(&err)
                    )));
                }
            };

            let status = response.status();
            let headers = response.headers().clone();
            let text = response.text().await;
            drop(permit);
            log_request(request, status, started, &headers);

            let text = match text {
                Ok(text) => text,
                Err(err) if attempt < MAX_ATTEMPTS => {
                    tracing::debug!("response body lost: {}", describe_reqwest_error(&err));
                    self.backoff(attempt, request, "response lost").await;
                    continue;
                }
                Err(err) => {
                    return Err(Error::temporary(format!(
                        "{} {}: the response was lost ({}); run again later, which is safe",
                        request.method,
                        request.path,
                        describe_reqwest_error(&err)
                    )))
                }
            };

            if status.is_success() {
                let body = if text.trim().is_empty() {
                    Value::Null
                } else {
                    serde_json::from_str(&text).map_err(|err| {
                        Error::temporary(format!(
                            "{} {}: Xero sent a response that is not JSON ({err}); correlation id {}",
                            request.method,
                            request.path,
                            correlation_id(&headers)
                        ))
                    })?
                };
                return Ok(ApiResponse {
                    status: status.as_u16(),
                    body,
                });
            }

            match status {
                StatusCode::UNAUTHORIZED if !renewed => {
                    renewed = true;
                    tracing::debug!("401 from Xero; renewing the access token once");
                    token = self.session.renew_after_rejection(&token).await?;
                }
                StatusCode::UNAUTHORIZED => {
                    return Err(Error::not_connected(format!(
                        "Xero rejected the access token for {} {} even after a refresh ({}). If the message mentions AuthorizationUnsuccessful, \
                         the connection lacks a scope this command needs: run `xerosync connect{}` with the default scopes. Correlation id {}",
                        request.method,
                        request.path,
                        describe_error_body(&text),
                        profile_flag(self.session.profile()),
                        correlation_id(&headers)
                    )));
                }
                StatusCode::FORBIDDEN => return Err(self.forbidden(&text, &headers).await),
                StatusCode::TOO_MANY_REQUESTS => {
                    let problem = header_str(&headers, "x-rate-limit-problem")
                        .unwrap_or_default()
                        .to_ascii_lowercase();
                    let retry_after = header_str(&headers, "retry-after")
                        .and_then(|v| v.trim().parse::<u64>().ok());
                    if problem == "day" {
                        return Err(Error::temporary(format!(
                            "Xero's daily API limit for organisation {} is used up{}; nothing was lost, run again after the reset",
                            self.tenant_label(),
                            retry_after.map(|s| format!(" (it resets in about {} hours)", s.div_ceil(3600))).unwrap_or_default()
                        )));
                    }
                    let wait = Duration::from_secs(retry_after.unwrap_or(1).max(1));
                    rate_limit_waits += 1;
                    if wait > MAX_RETRY_AFTER || rate_limit_waits > MAX_RATE_LIMIT_WAITS {
                        return Err(Error::temporary(format!(
                            "Xero keeps rate-limiting organisation {} ({} limit); nothing was lost, run again later",
                            self.tenant_label(),
                            if problem.is_empty() { "unknown" } else { &problem }
                        )));
                    }
                    tracing::info!(problem = %problem, wait_secs = wait.as_secs(), "Xero rate limit reached; waiting before retrying");
                    tokio::time::sleep(wait).await;
                    attempt -= 1;
                }
                status if status.is_server_error() && attempt < MAX_ATTEMPTS => {
                    self.backoff(attempt, request, &format!("HTTP {}", status.as_u16()))
                        .await;
                }
                status if status.is_server_error() => {
                    return Err(Error::temporary(format!(
                        "Xero returned HTTP {} to {} {} {attempt} times ({}); Xero or the organisation may be offline for maintenance. Run again later. Correlation id {}",
                        status.as_u16(),
                        request.method,
                        request.path,
                        describe_error_body(&text),
                        correlation_id(&headers)
                    )));
                }
                _ => {
                    tracing::warn!(status = status.as_u16(), correlation_id = %correlation_id(&headers), path = %request.path, "Xero rejected a request");
                    return Err(Error::failed(format!(
                        "Xero rejected {} {} with HTTP {}: {}. Correlation id {} (Xero support asks for it)",
                        request.method,
                        request.path,
                        status.as_u16(),
                        describe_error_body(&text),
                        correlation_id(&headers)
                    )));
                }
            }
        }
    }

    fn build(&self, request: &ApiRequest, token: &str) -> reqwest::RequestBuilder {
        let mut url = self.api_url.clone();
        let base_path = url.path().trim_end_matches('/').to_string();
        url.set_path(&format!("{base_path}{}", request.path));
        let mut builder = self
            .http
            .request(request.method.clone(), url)
            .bearer_auth(token)
            .header("Accept", "application/json")
            .query(&request.query);
        if let Some(tenant) = &self.tenant {
            if request.path.starts_with("/api.xro/") {
                builder = builder.header("xero-tenant-id", &tenant.id);
            }
        }
        if let Some(key) = &request.idempotency_key {
            builder = builder.header("Idempotency-Key", key);
        }
        if let Some(since) = request.if_modified_since {
            builder = builder.header(
                "If-Modified-Since",
                since.format("%Y-%m-%dT%H:%M:%S").to_string(),
            );
        }
        if let Some(body) = &request.body {
            builder = builder.json(body);
        }
        builder
    }

    async fn backoff(&self, attempt: u32, request: &ApiRequest, reason: &str) {
        let exponential = BACKOFF_BASE * 2u32.pow(attempt.saturating_sub(1).min(6));
        let jitter = Duration::from_millis(
            rand::thread_rng().gen_range(0..=exponential.as_millis() as u64 / 2),
        );
        let wait = exponential + jitter;
        let resend = if request.is_write() {
            " (same Idempotency-Key)"
        } else {
            ""
        };
        tracing::info!(method = %request.method, path = %request.path, attempt, wait_ms = wait.as_millis() as u64, "{reason}; retrying{resend}");
        tokio::time::sleep(wait).await;
    }

    fn tenant_label(&self) -> String {
        match &self.tenant {
            Some(tenant) => format!("\"{}\" ({})", tenant.name, tenant.id),
            None => "(none selected)".into(),
        }
    }

    /// Builds the error for a 403, which usually means the organisation was
    /// disconnected. `/connections` shows whether it was, so the message can name it.
    async fn forbidden(&self, text: &str, headers: &HeaderMap) -> Error {
        let flag = profile_flag(self.session.profile());
        let Some(tenant) = &self.tenant else {
            return Error::not_connected(format!(
                "Xero rejected the request as forbidden ({}); run `xerosync connect{flag}`",
                describe_error_body(text)
            ));
        };
        let still_connected = self.tenant_still_connected(&tenant.id).await;
        match still_connected {
            Some(false) => Error::not_connected(format!(
                "organisation \"{}\" ({}) is no longer connected to xerosync; nothing was written to any other organisation. \
                 Run `xerosync connect{flag}` and allow access to it, or pick another with `xerosync tenants --select NAME{flag}`",
                tenant.name, tenant.id
            )),
            _ => Error::not_connected(format!(
                "Xero refused access to organisation \"{}\" ({}): {}. Run `xerosync connect{flag}` to renew the connection. Correlation id {}",
                tenant.name,
                tenant.id,
                describe_error_body(text),
                correlation_id(headers)
            )),
        }
    }
}

impl XeroClient {
    /// Asks `/connections` whether the tenant is still connected, with one
    /// plain request (no retries); `None` when the request fails.
    async fn tenant_still_connected(&self, tenant_id: &str) -> Option<bool> {
        let token = self.session.access_token().await.ok()?;
        let request = ApiRequest::get("/connections");
        let response = self.build(&request, token.expose()).send().await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        let body: Value = response.json().await.ok()?;
        let connections = body.as_array()?;
        Some(
            connections
                .iter()
                .any(|c| c.get("tenantId").and_then(Value::as_str) == Some(tenant_id)),
        )
    }
}

fn profile_flag(profile: &str) -> String {
    if profile == "default" {
        String::new()
    } else {
        format!(" --profile {profile}")
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

fn correlation_id(headers: &HeaderMap) -> String {
    header_str(headers, "xero-correlation-id")
        .unwrap_or("(none)")
        .to_string()
}

/// One debug line per request: method, path, status, time and remaining
/// limits. Header values other than the limits are never logged.
fn log_request(request: &ApiRequest, status: StatusCode, started: Instant, headers: &HeaderMap) {
    tracing::debug!(
        method = %request.method,
        path = %request.path,
        status = status.as_u16(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        minute_remaining = header_str(headers, "x-minlimit-remaining").unwrap_or("-"),
        day_remaining = header_str(headers, "x-daylimit-remaining").unwrap_or("-"),
        "xero request"
    );
    if !status.is_success() {
        tracing::debug!(status = status.as_u16(), correlation_id = %correlation_id(headers), "Xero error response");
    }
}

/// Describes a reqwest error without its URL (query strings may hold ids
/// a user did not ask to see) and without any header.
pub fn describe_reqwest_error(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "connection failed"
    } else if err.is_body() || err.is_decode() {
        "response interrupted"
    } else if err.is_request() {
        "request failed"
    } else {
        "HTTP error"
    };
    let mut source = std::error::Error::source(err);
    let mut detail = String::new();
    while let Some(inner) = source {
        detail = inner.to_string();
        source = inner.source();
    }
    if detail.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {detail}")
    }
}
