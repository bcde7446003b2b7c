//! Client for Productive's API v2, used to record Xero payments on Productive invoices.
//!
//! Every request sends `X-Auth-Token`, `X-Organization-Id` and the JSON:API
//! content type. The client waits out rate limits (429) for a bounded time.
//! It retries server errors and connection failures with bounded exponential
//! backoff. Once either budget is spent, it returns a temporary error (exit 75).
//! The token never appears in logs or errors.

use std::time::Duration;

use chrono::NaiveDate;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use url::Url;

use super::fields::{parse_date, parse_decimal};
use super::money::{major_to_minor, minor_to_major};
use crate::config::is_loopback_url;
use crate::error::{Error, Result};
use crate::secret::Secret;

const JSONAPI: &str = "application/vnd.api+json";
/// Largest page Productive serves.
const PAGE_SIZE: u32 = 200;
/// Stops a paging loop that a broken `meta.total_pages` would never end.
const MAX_PAGES: u32 = 10_000;
/// Maximum length of an error body quoted in a message, in characters.
const BODY_EXCERPT: usize = 300;

/// A payment on a Productive invoice, with the amount in major units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductivePayment {
    pub id: String,
    pub invoice_id: String,
    pub amount: Decimal,
    pub currency: String,
    pub paid_on: NaiveDate,
    pub note: Option<String>,
    /// Id of the payment in the accounting system; xerosync stores the Xero PaymentID here.
    pub external_id: Option<String>,
}

/// The payment-related fields of a Productive invoice, amounts in major units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductiveInvoice {
    pub id: String,
    pub number: String,
    pub currency: String,
    pub amount_with_tax: Decimal,
    pub amount_paid: Decimal,
}

/// How long the client keeps trying before it reports a temporary failure.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Maximum attempts of one request after server errors or connection failures.
    pub max_attempts: u32,
    /// Wait before the second attempt; doubled before each further attempt.
    pub initial_backoff: Duration,
    /// Maximum wait between two attempts.
    pub max_backoff: Duration,
    /// Maximum total time one request waits for rate limits to reset.
    pub max_rate_limit_wait: Duration,
    /// Wait after a 429 response without a usable `X-RateLimit-Reset` header.
    pub default_rate_limit_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            max_rate_limit_wait: Duration::from_secs(60),
            default_rate_limit_wait: Duration::from_secs(1),
        }
    }
}

/// The cause of a failed attempt of a request.
enum Failure {
    /// 429: the request was not processed; try again after `reset`.
    RateLimited { reset: Duration },
    /// A server error or a transport failure. `may_have_committed` is true
    /// when the server may have processed the request before the failure.
    Transient {
        may_have_committed: bool,
        detail: String,
    },
    /// Retrying cannot help.
    Fatal(Error),
}

/// Counts the attempts and waits of one request against a [`RetryPolicy`].
struct RetryBudget<'a> {
    policy: &'a RetryPolicy,
    attempts: u32,
    backoff: Duration,
    rate_limit_waited: Duration,
}

impl<'a> RetryBudget<'a> {
    fn new(policy: &'a RetryPolicy) -> Self {
        RetryBudget {
            policy,
            attempts: 1,
            backoff: policy.initial_backoff,
            rate_limit_waited: Duration::ZERO,
        }
    }

    /// Waits before the next attempt after a transient failure, or returns a
    /// temporary error when the attempts are used up.
    async fn back_off(&mut self, request_line: &str, detail: &str) -> Result<()> {
        if self.attempts >= self.policy.max_attempts {
            return Err(Error::temporary(format!(
                "{request_line} failed {} times, last with {detail}; Productive may be unavailable, so run again later",
                self.attempts
            )));
        }
        tracing::warn!(
            request = request_line,
            attempt = self.attempts,
            wait_ms = self.backoff.as_millis() as u64,
            "retrying Productive request after {detail}"
        );
        tokio::time::sleep(self.backoff).await;
        self.attempts += 1;
        self.backoff = (self.backoff * 2).min(self.policy.max_backoff);
        Ok(())
    }

    /// Waits until the rate limit resets, or returns a temporary error when
    /// the wait would exceed the policy's maximum.
    async fn wait_for_rate_limit(&mut self, request_line: &str, reset: Duration) -> Result<()> {
        if self.rate_limit_waited + reset > self.policy.max_rate_limit_wait {
            return Err(Error::temporary(format!(
                "{request_line} is rate limited by Productive for another {} s after {} s of waiting, beyond the maximum wait of {} s; run again later",
                reset.as_secs_f64().ceil(),
                self.rate_limit_waited.as_secs(),
                self.policy.max_rate_limit_wait.as_secs()
            )));
        }
        tracing::warn!(
            request = request_line,
            wait_ms = reset.as_millis() as u64,
            "Productive rate limit reached; waiting for the reset"
        );
        tokio::time::sleep(reset).await;
        self.rate_limit_waited += reset;
        Ok(())
    }
}

/// Async client for Productive's API v2.
pub struct ProductiveClient {
    http: reqwest::Client,
    base_url: Url,
    organization_id: String,
    token: Secret,
    retry: RetryPolicy,
}

impl ProductiveClient {
    /// Builds a client for `base_url`, the API root such as `https://api.productive.io/api/v2`.
    /// Plain http is accepted for loopback hosts only.
    pub fn new(base_url: Url, organization_id: String, token: Secret) -> Result<Self> {
        if base_url.scheme() != "https"
            && !(base_url.scheme() == "http" && is_loopback_url(&base_url))
        {
            return Err(Error::config(format!(
                "Productive API address {base_url} must use https (plain http is accepted only for 127.0.0.1, localhost and [::1])"
            )));
        }
        if organization_id.trim().is_empty() {
            return Err(Error::config("productive.organization_id is empty; copy it from Productive's Settings → API integrations"));
        }
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(JSONAPI));
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(JSONAPI));
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            // A redirect would carry X-Auth-Token to another address.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("xerosync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| {
                Error::failed(format!(
                    "cannot set up the HTTP client for Productive: {err}"
                ))
            })?;
        Ok(ProductiveClient {
            http,
            base_url,
            organization_id,
            token,
            retry: RetryPolicy::default(),
        })
    }

    /// Replaces the retry policy; tests use short waits.
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Fetches the amounts and currency of one invoice.
    pub async fn get_invoice(&self, invoice_id: &str) -> Result<ProductiveInvoice> {
        let url = self.endpoint(&["invoices", invoice_id]);
        let document = self
            .call(Method::GET, &url, None)
            .await?
            .into_document(&Method::GET, &url)?;
        parse_invoice(document.get("data").unwrap_or(&Value::Null))
            .map_err(|err| err.context(format!("GET {url}")))
    }

    /// Lists all payments of an invoice, following the pages of 200.
    pub async fn list_payments(&self, invoice_id: &str) -> Result<Vec<ProductivePayment>> {
        let mut payments = Vec::new();
        for page in 1..=MAX_PAGES {
            let mut url = self.endpoint(&["payments"]);
            url.query_pairs_mut()
                .append_pair("filter[invoice_id]", invoice_id)
                .append_pair("page[number]", &page.to_string())
                .append_pair("page[size]", &PAGE_SIZE.to_string());
            let document = self
                .call(Method::GET, &url, None)
                .await?
                .into_document(&Method::GET, &url)?;

            let items = document
                .get("data")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            for item in items {
                payments.push(
                    parse_payment(item, invoice_id)
                        .map_err(|err| err.context(format!("GET {url}")))?,
                );
            }
            let total_pages = document.pointer("/meta/total_pages").and_then(value_as_u32);
            let last_page = match total_pages {
                Some(total_pages) => page >= total_pages,
                None => items.len() < PAGE_SIZE as usize,
            };
            if last_page {
                break;
            }
        }
        Ok(payments)
    }

    /// Records a payment of `amount` (major units) on an invoice.
    ///
    /// When the connection fails or the server errors after the request may
    /// have been processed, the client looks for a payment with the same
    /// `external_id` before trying again, so a retry never records a payment
    /// twice. Without an `external_id` it cannot tell, so it returns a
    /// temporary error that asks the user to check the invoice.
    pub async fn create_payment(
        &self,
        invoice_id: &str,
        amount: Decimal,
        currency: &str,
        paid_on: NaiveDate,
        note: Option<&str>,
        external_id: Option<&str>,
    ) -> Result<ProductivePayment> {
        let cents = major_to_minor(amount);
        let cents = i64::try_from(cents).ok().filter(|_| cents.fract().is_zero()).ok_or_else(|| {
            Error::failed(format!("payment amount {amount} {currency} for Productive invoice {invoice_id} is not a whole number of cents"))
        })?;
        let body = json!({
            "data": {
                "type": "payments",
                "attributes": {
                    "invoice_id": invoice_id,
                    "amount": cents,
                    "currency": currency,
                    "paid_on": paid_on.to_string(),
                    "note": note,
                    "external_id": external_id,
                }
            }
        });
        let body = serde_json::to_vec(&body)
            .map_err(|err| Error::failed(format!("cannot encode a Productive payment: {err}")))?;
        let url = self.endpoint(&["payments"]);
        let request_line = format!("POST {url}");

        let mut budget = RetryBudget::new(&self.retry);
        loop {
            match self.attempt(&Method::POST, &url, Some(&body)).await {
                Ok(reply) => {
                    let document = reply.into_document(&Method::POST, &url)?;
                    return parse_payment(document.get("data").unwrap_or(&Value::Null), invoice_id)
                        .map_err(|err| err.context(&request_line));
                }
                Err(Failure::Fatal(err)) => return Err(err),
                Err(Failure::RateLimited { reset }) => {
                    budget.wait_for_rate_limit(&request_line, reset).await?
                }
                Err(Failure::Transient {
                    may_have_committed,
                    detail,
                }) => {
                    if may_have_committed {
                        let Some(external_id) = external_id else {
                            return Err(Error::temporary(format!(
                                "{request_line} failed with {detail} after Productive may have recorded the payment; check the payments of invoice {invoice_id} in Productive before running again"
                            )));
                        };
                        let existing = self.list_payments(invoice_id).await?;
                        if let Some(payment) = existing
                            .into_iter()
                            .find(|payment| payment.external_id.as_deref() == Some(external_id))
                        {
                            tracing::info!(invoice_id, payment_id = %payment.id, "payment was recorded before the connection failed");
                            return Ok(payment);
                        }
                    }
                    budget.back_off(&request_line, &detail).await?;
                }
            }
        }
    }

    /// Deletes a payment. A payment that is already gone counts as deleted,
    /// so a retried delete succeeds.
    pub async fn delete_payment(&self, payment_id: &str) -> Result<()> {
        let url = self.endpoint(&["payments", payment_id]);
        let reply = self.call(Method::DELETE, &url, None).await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Ok(());
        }
        reply.into_document(&Method::DELETE, &url).map(drop)
    }

    fn endpoint(&self, segments: &[&str]) -> Url {
        let mut url = self.base_url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// Sends a request that is safe to repeat, retrying within the policy.
    async fn call(&self, method: Method, url: &Url, body: Option<&[u8]>) -> Result<Reply> {
        let request_line = format!("{method} {url}");
        let mut budget = RetryBudget::new(&self.retry);
        loop {
            match self.attempt(&method, url, body).await {
                Ok(reply) => return Ok(reply),
                Err(Failure::Fatal(err)) => return Err(err),
                Err(Failure::RateLimited { reset }) => {
                    budget.wait_for_rate_limit(&request_line, reset).await?
                }
                Err(Failure::Transient { detail, .. }) => {
                    budget.back_off(&request_line, &detail).await?
                }
            }
        }
    }

    /// Sends one request and classifies the outcome. Success and client
    /// errors other than 401, 403 and 429 come back as a [`Reply`].
    async fn attempt(
        &self,
        method: &Method,
        url: &Url,
        body: Option<&[u8]>,
    ) -> Result<Reply, Failure> {
        let mut request = self
            .http
            .request(method.clone(), url.clone())
            .header("X-Auth-Token", self.token.expose())
            .header("X-Organization-Id", &self.organization_id);
        if let Some(body) = body {
            request = request.body(body.to_vec());
        }

        let response = match request.send().await {
            Ok(response) => response,
            Err(err) => {
                tracing::debug!(%method, %url, "Productive request failed: {err}");
                // A failure to connect means nothing was sent; anything later may
                // have reached the server.
                return Err(Failure::Transient {
                    may_have_committed: !err.is_connect(),
                    detail: describe_transport_error(&err),
                });
            }
        };
        let status = response.status();
        tracing::debug!(%method, %url, status = status.as_u16(), "Productive response");

        if status == StatusCode::TOO_MANY_REQUESTS {
            let reset =
                rate_limit_reset(response.headers()).unwrap_or(self.retry.default_rate_limit_wait);
            return Err(Failure::RateLimited { reset });
        }
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(Failure::Fatal(Error::config(format!(
                "Productive rejected the API token or organization id {} (HTTP {} on {method} {url}); store a new token with `xerosync connect --productive`, and check productive.organization_id in the config",
                self.organization_id,
                status.as_u16()
            ))));
        }

        let text = match response.text().await {
            Ok(text) => text,
            Err(err) => {
                return Err(Failure::Transient {
                    may_have_committed: true,
                    detail: describe_transport_error(&err),
                })
            }
        };
        if status.is_server_error() {
            return Err(Failure::Transient {
                may_have_committed: true,
                detail: format!("HTTP {}", status.as_u16()),
            });
        }
        if !status.is_success() || text.trim().is_empty() {
            return Ok(Reply {
                status,
                body: Value::Null,
                text,
            });
        }
        match serde_json::from_str(&text) {
            Ok(body) => Ok(Reply { status, body, text }),
            Err(err) => Err(Failure::Fatal(Error::failed(format!(
                "Productive responded to {method} {url} with a body that is not JSON ({err}): {}",
                excerpt(&text)
            )))),
        }
    }
}

/// A response with status 2xx, or 4xx other than 401, 403 and 429.
struct Reply {
    status: StatusCode,
    /// The parsed body of a successful response, else null.
    body: Value,
    text: String,
}

impl Reply {
    /// Returns the body of a successful response, or an error quoting Productive's error messages.
    fn into_document(self, method: &Method, url: &Url) -> Result<Value> {
        if self.status.is_success() {
            return Ok(self.body);
        }
        let advice = match self.status {
            StatusCode::NOT_FOUND => {
                "; check that the invoice exists in Productive and belongs to this organization"
            }
            StatusCode::UNPROCESSABLE_ENTITY => {
                "; Productive rejected the values, so correct them and run again"
            }
            _ => "",
        };
        Err(Error::failed(format!(
            "Productive responded with HTTP {} to {method} {url}: {}{advice}",
            self.status.as_u16(),
            error_summary(&self.text)
        )))
    }
}

/// Reads `X-RateLimit-Reset`, the seconds until the rate limit window resets.
fn rate_limit_reset(headers: &HeaderMap) -> Option<Duration> {
    let seconds: f64 = headers
        .get("X-RateLimit-Reset")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(3600.0)))
}

fn describe_transport_error(err: &reqwest::Error) -> String {
    if err.is_timeout() {
        "a timeout".to_string()
    } else if err.is_connect() {
        "a connection failure".to_string()
    } else {
        "a broken connection".to_string()
    }
}

/// Summarises a JSON:API error body as its titles and details, or quotes the body.
fn error_summary(text: &str) -> String {
    let errors = serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|body| body.get("errors").and_then(Value::as_array).cloned());
    let Some(errors) = errors else {
        return excerpt(text);
    };
    let parts: Vec<String> = errors
        .iter()
        .map(|error| {
            let field = |name: &str| error.get(name).and_then(Value::as_str).unwrap_or("");
            match (field("title"), field("detail")) {
                (title, "") => title.to_string(),
                ("", detail) => detail.to_string(),
                (title, detail) => format!("{title}: {detail}"),
            }
        })
        .filter(|part| !part.is_empty())
        .collect();
    if parts.is_empty() {
        excerpt(text)
    } else {
        parts.join("; ")
    }
}

fn excerpt(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(BODY_EXCERPT) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

fn value_as_u32(value: &Value) -> Option<u32> {
    match value {
        Value::Number(number) => number.to_string().parse().ok(),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

fn decimal_value(value: &Value) -> Option<Decimal> {
    match value {
        Value::Number(number) => parse_decimal(&number.to_string()),
        Value::String(text) => parse_decimal(text),
        _ => None,
    }
}

fn string_value(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    }
}

fn parse_payment(resource: &Value, requested_invoice_id: &str) -> Result<ProductivePayment> {
    let id = string_value(resource.get("id"))
        .ok_or_else(|| Error::failed("Productive returned a payment without an id"))?;
    let attributes = resource.get("attributes").cloned().unwrap_or(Value::Null);
    let invalid = |name: &str| {
        Error::failed(format!(
            "Productive returned payment {id} without a valid \"{name}\" attribute: {}",
            excerpt(&attributes.to_string())
        ))
    };

    let amount = attributes
        .get("amount")
        .and_then(decimal_value)
        .ok_or_else(|| invalid("amount"))?;
    let paid_on = attributes
        .get("paid_on")
        .and_then(Value::as_str)
        .and_then(parse_date)
        .ok_or_else(|| invalid("paid_on"))?;
    let invoice_id = string_value(resource.pointer("/relationships/invoice/data/id"))
        .or_else(|| string_value(attributes.get("invoice_id")))
        .unwrap_or_else(|| requested_invoice_id.to_string());
    Ok(ProductivePayment {
        id: id.clone(),
        invoice_id,
        amount: minor_to_major(amount),
        currency: string_value(attributes.get("currency")).unwrap_or_default(),
        paid_on,
        note: string_value(attributes.get("note")),
        external_id: string_value(attributes.get("external_id"))
            .filter(|external_id| !external_id.is_empty()),
    })
}

fn parse_invoice(resource: &Value) -> Result<ProductiveInvoice> {
    let id = string_value(resource.get("id"))
        .ok_or_else(|| Error::failed("Productive returned an invoice without an id"))?;
    let attributes = resource.get("attributes").cloned().unwrap_or(Value::Null);
    let money = |name: &str| {
        attributes
            .get(name)
            .and_then(decimal_value)
            .map(minor_to_major)
            .ok_or_else(|| {
                Error::failed(format!(
                    "Productive returned invoice {id} without a valid \"{name}\" attribute"
                ))
            })
    };
    Ok(ProductiveInvoice {
        id: id.clone(),
        number: string_value(attributes.get("number")).unwrap_or_default(),
        currency: string_value(attributes.get("currency")).unwrap_or_default(),
        amount_with_tax: money("amount_with_tax")?,
        amount_paid: attributes
            .get("amount_paid")
            .and_then(decimal_value)
            .map(minor_to_major)
            .unwrap_or_default(),
    })
}
