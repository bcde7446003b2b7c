//! A local double of Productive's API v2 for tests and the sandbox example.
//!
//! It serves the part of the API that xerosync uses: `GET /invoices/{id}`,
//! `GET /payments` with `filter[invoice_id]` and page-based pagination,
//! `POST /payments` and `DELETE /payments/{id}`, all as JSON:API. It checks
//! `X-Auth-Token` (401) and `X-Organization-Id` (403), limits requests per
//! token in fixed windows (429 with `X-RateLimit-Reset`), records every
//! request, and can inject faults. Money attributes are integers in minor
//! units, the same inferred shape the client assumes (see
//! [`crate::productive::money::minor_to_major`]).
//!
//! The server listens on 127.0.0.1 on a free port and stops when dropped.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use url::Url;

use crate::error::{Error, Result};
use crate::productive::money::{major_to_minor, minor_to_major};

const JSONAPI: &str = "application/vnd.api+json";
const DEFAULT_PAGE_SIZE: usize = 30;
const MAX_PAGE_SIZE: usize = 200;
const WORKER_THREADS: usize = 4;

/// Settings of a [`ProductiveDouble`].
#[derive(Debug, Clone)]
pub struct ProductiveDoubleConfig {
    /// The only `X-Auth-Token` accepted.
    pub token: String,
    /// The only `X-Organization-Id` accepted.
    pub organization_id: String,
    /// Maximum requests per token in one `rate_window`; Productive allows 100 per 10 s.
    pub rate_limit: u32,
    pub rate_window: Duration,
}

impl Default for ProductiveDoubleConfig {
    fn default() -> Self {
        ProductiveDoubleConfig {
            token: "productive-double-token".to_string(),
            organization_id: "12345".to_string(),
            rate_limit: 100,
            rate_window: Duration::from_secs(10),
        }
    }
}

/// A failure the double produces on purpose, once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The next request that passes authentication gets a 503 response and is not processed.
    ServiceUnavailable,
    /// The next `POST` or `DELETE` is processed, but its response is replaced
    /// by bytes that are not HTTP, so the client gets a broken connection
    /// after the server committed the change.
    DropAfterCommit,
}

/// A payment stored by the double, with the amount in major units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoublePayment {
    pub id: String,
    pub invoice_id: String,
    pub amount: Decimal,
    pub currency: String,
    pub paid_on: NaiveDate,
    pub note: Option<String>,
    pub external_id: Option<String>,
}

/// A request as the double received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    /// Path without the query, such as `/api/v2/payments`.
    pub path: String,
    /// Decoded query parameters in order.
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// Status of the response; 0 when the connection was dropped on purpose.
    pub status: u16,
}

impl RecordedRequest {
    /// Returns the first header with this name, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(field, _)| field.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Returns the first query parameter with this name.
    pub fn query_value(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| value.as_str())
    }
}

struct DoubleInvoice {
    number: String,
    currency: String,
    amount_with_tax: Decimal,
}

struct RateWindow {
    started: Instant,
    count: u32,
}

struct State {
    config: ProductiveDoubleConfig,
    invoices: BTreeMap<String, DoubleInvoice>,
    payments: Vec<DoublePayment>,
    next_payment_id: u64,
    faults: VecDeque<Fault>,
    requests: Vec<RecordedRequest>,
    rate_windows: HashMap<String, RateWindow>,
}

/// A running Productive double; see the module documentation.
pub struct ProductiveDouble {
    state: Arc<Mutex<State>>,
    server: Arc<tiny_http::Server>,
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
    base_url: Url,
}

impl ProductiveDouble {
    /// Starts the server on 127.0.0.1 with a free port.
    pub fn start(config: ProductiveDoubleConfig) -> Result<ProductiveDouble> {
        let server = tiny_http::Server::http("127.0.0.1:0").map_err(|err| {
            Error::failed(format!(
                "cannot start the Productive double on 127.0.0.1: {err}"
            ))
        })?;
        let port = server
            .server_addr()
            .to_ip()
            .map(|address| address.port())
            .ok_or_else(|| {
                Error::failed("the Productive double is not listening on an IP address")
            })?;
        let base_url = Url::parse(&format!("http://127.0.0.1:{port}/api/v2")).map_err(|err| {
            Error::failed(format!(
                "cannot build the Productive double's address: {err}"
            ))
        })?;

        let server = Arc::new(server);
        let stop = Arc::new(AtomicBool::new(false));
        let state = Arc::new(Mutex::new(State {
            config,
            invoices: BTreeMap::new(),
            payments: Vec::new(),
            next_payment_id: 1,
            faults: VecDeque::new(),
            requests: Vec::new(),
            rate_windows: HashMap::new(),
        }));

        let workers = (0..WORKER_THREADS)
            .map(|_| {
                let (server, stop, state) =
                    (Arc::clone(&server), Arc::clone(&stop), Arc::clone(&state));
                std::thread::spawn(move || serve(&server, &stop, &state))
            })
            .collect();
        tracing::debug!(%base_url, "Productive double started");
        Ok(ProductiveDouble {
            state,
            server,
            stop,
            workers,
            base_url,
        })
    }

    /// Returns the API root, such as `http://127.0.0.1:PORT/api/v2`.
    pub fn base_url(&self) -> Url {
        self.base_url.clone()
    }

    /// Adds an invoice that payments can be recorded on; `amount_with_tax` is in major units.
    pub fn add_invoice(&self, id: &str, number: &str, currency: &str, amount_with_tax: Decimal) {
        let invoice = DoubleInvoice {
            number: number.to_string(),
            currency: currency.to_string(),
            amount_with_tax,
        };
        self.lock().invoices.insert(id.to_string(), invoice);
    }

    /// Adds a payment as if someone had recorded it before; returns its id.
    pub fn add_existing_payment(
        &self,
        invoice_id: &str,
        amount: Decimal,
        paid_on: NaiveDate,
        external_id: Option<&str>,
    ) -> String {
        let mut state = self.lock();
        let currency = state
            .invoices
            .get(invoice_id)
            .map(|invoice| invoice.currency.clone())
            .unwrap_or_default();
        state
            .add_payment(
                invoice_id,
                amount,
                currency,
                paid_on,
                None,
                external_id.map(str::to_string),
            )
            .id
    }

    /// Returns the payments stored now, in the order they were created.
    pub fn payments(&self) -> Vec<DoublePayment> {
        self.lock().payments.clone()
    }

    /// Queues a fault; faults are used one at a time in the order queued.
    pub fn inject(&self, fault: Fault) {
        self.lock().faults.push_back(fault);
    }

    /// Returns every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }
}

impl Drop for ProductiveDouble {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for _ in &self.workers {
            self.server.unblock();
        }
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
        tracing::debug!(base_url = %self.base_url, "Productive double stopped");
    }
}

/// Locks the state, going on after a panic in another worker because the
/// state stays consistent between requests.
fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn serve(server: &tiny_http::Server, stop: &AtomicBool, state: &Mutex<State>) {
    while !stop.load(Ordering::SeqCst) {
        match server.recv_timeout(Duration::from_millis(100)) {
            Ok(Some(request)) => handle(request, state),
            Ok(None) => {}
            Err(_) => break,
        }
    }
}

/// A response before it is written.
struct Reply {
    status: u16,
    body: Option<Value>,
    headers: Vec<(&'static str, String)>,
}

impl Reply {
    fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: Some(body),
            headers: Vec::new(),
        }
    }

    fn error(status: u16, title: &str, detail: &str) -> Reply {
        Reply::json(
            status,
            json!({ "errors": [{ "status": status.to_string(), "title": title, "detail": detail }] }),
        )
    }
}

fn handle(mut request: tiny_http::Request, state: &Mutex<State>) {
    let mut body = String::new();
    let _ = request.as_reader().read_to_string(&mut body);
    let full_url = Url::parse(&format!("http://double{}", request.url())).ok();
    let recorded = RecordedRequest {
        method: request.method().as_str().to_string(),
        path: full_url
            .as_ref()
            .map(|url| url.path().to_string())
            .unwrap_or_default(),
        query: full_url
            .as_ref()
            .map(|url| url.query_pairs().into_owned().collect())
            .unwrap_or_default(),
        headers: request
            .headers()
            .iter()
            .map(|header| {
                (
                    header.field.as_str().to_string(),
                    header.value.as_str().to_string(),
                )
            })
            .collect(),
        body,
        status: 0,
    };

    let mut state = lock(state);
    let index = state.requests.len();
    state.requests.push(recorded.clone());
    let (reply, drop_connection) = state.decide_reply(&recorded);
    state.requests[index].status = if drop_connection { 0 } else { reply.status };
    drop(state);

    if drop_connection {
        // Bytes that no HTTP client can parse as a response, so the client
        // fails after the change was stored.
        let mut writer = request.into_writer();
        let _ = writer.write_all(b"\x00\x00 connection dropped by the Productive double\r\n\r\n");
        let _ = writer.flush();
        return;
    }
    send_reply(request, reply);
}

fn send_reply(request: tiny_http::Request, reply: Reply) {
    let body = reply.body.map(|body| body.to_string()).unwrap_or_default();
    let mut response = tiny_http::Response::from_string(body).with_status_code(reply.status);
    let mut headers = reply.headers;
    headers.push(("Content-Type", JSONAPI.to_string()));
    for (name, value) in headers {
        if let Ok(header) = tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()) {
            response.add_header(header);
        }
    }
    if let Err(err) = request.respond(response) {
        tracing::debug!("Productive double could not send a response: {err}");
    }
}

impl State {
    /// Decides the response to a request. The flag is true when the
    /// connection must be dropped in place of the response.
    fn decide_reply(&mut self, request: &RecordedRequest) -> (Reply, bool) {
        if request.header("X-Auth-Token") != Some(self.config.token.as_str()) {
            return (
                Reply::error(
                    401,
                    "Unauthorized",
                    "the X-Auth-Token header is missing or invalid",
                ),
                false,
            );
        }
        if request.header("X-Organization-Id") != Some(self.config.organization_id.as_str()) {
            return (
                Reply::error(
                    403,
                    "Forbidden",
                    "the token has no access to this organization",
                ),
                false,
            );
        }
        if let Some(reply) = self.check_rate_limit() {
            return (reply, false);
        }

        let is_write = matches!(request.method.as_str(), "POST" | "DELETE");
        let mut drop_connection = false;
        match self.faults.front() {
            Some(Fault::ServiceUnavailable) => {
                self.faults.pop_front();
                return (
                    Reply::error(503, "Service Unavailable", "injected fault"),
                    false,
                );
            }
            Some(Fault::DropAfterCommit) if is_write => {
                self.faults.pop_front();
                drop_connection = true;
            }
            _ => {}
        }

        let segments: Vec<&str> = request.path.trim_matches('/').split('/').collect();
        let reply = match (request.method.as_str(), segments.as_slice()) {
            ("GET", ["api", "v2", "invoices", id]) => self.get_invoice(id),
            ("GET", ["api", "v2", "payments"]) => self.list_payments(request),
            ("POST", ["api", "v2", "payments"]) => self.create_payment(request),
            ("DELETE", ["api", "v2", "payments", id]) => self.delete_payment(id),
            _ => Reply::error(
                404,
                "Not Found",
                &format!("no route for {} {}", request.method, request.path),
            ),
        };
        (reply, drop_connection)
    }

    /// Counts the request in its token's fixed window, or returns a 429 response when the window is full.
    fn check_rate_limit(&mut self) -> Option<Reply> {
        let now = Instant::now();
        let (limit, window_length) = (self.config.rate_limit, self.config.rate_window);
        let window = self
            .rate_windows
            .entry(self.config.token.clone())
            .or_insert(RateWindow {
                started: now,
                count: 0,
            });
        if now.duration_since(window.started) >= window_length {
            *window = RateWindow {
                started: now,
                count: 0,
            };
        }
        if window.count < limit {
            window.count += 1;
            return None;
        }

        let remaining = window_length.saturating_sub(now.duration_since(window.started));
        let reset_seconds = remaining.as_secs() + u64::from(remaining.subsec_nanos() > 0);
        let mut reply = Reply::json(
            429,
            json!({ "errors": [{ "status": "429", "title": "Too many requests", "limit": limit, "period": window_length.as_secs() }] }),
        );
        reply
            .headers
            .push(("X-RateLimit-Reset", reset_seconds.max(1).to_string()));
        Some(reply)
    }

    fn get_invoice(&self, id: &str) -> Reply {
        let Some(invoice) = self.invoices.get(id) else {
            return Reply::error(404, "Not Found", &format!("invoice {id} does not exist"));
        };
        let paid: Decimal = self
            .payments
            .iter()
            .filter(|payment| payment.invoice_id == id)
            .map(|payment| payment.amount)
            .sum();
        Reply::json(
            200,
            json!({ "data": {
                "id": id,
                "type": "invoices",
                "attributes": {
                    "number": invoice.number,
                    "currency": invoice.currency,
                    "amount_with_tax": cents(invoice.amount_with_tax),
                    "amount_paid": cents(paid),
                    "amount_unpaid": cents(invoice.amount_with_tax - paid),
                }
            }}),
        )
    }

    fn list_payments(&self, request: &RecordedRequest) -> Reply {
        let mut invoice_filter = None;
        let mut page_number = 1usize;
        let mut page_size = DEFAULT_PAGE_SIZE;
        for (name, value) in &request.query {
            match name.as_str() {
                "filter[invoice_id]" => invoice_filter = Some(value.clone()),
                "page[number]" | "page[size]" => {
                    let Some(number) = value.parse::<usize>().ok().filter(|number| *number >= 1)
                    else {
                        return Reply::error(
                            400,
                            "Bad Request",
                            &format!("{name} must be a whole number of 1 or more"),
                        );
                    };
                    if name == "page[number]" {
                        page_number = number;
                    } else {
                        page_size = number.min(MAX_PAGE_SIZE);
                    }
                }
                other if other.starts_with("filter[") => {
                    return Reply::error(400, "Unsupported Filter", other)
                }
                _ => {}
            }
        }

        let matching: Vec<&DoublePayment> = self
            .payments
            .iter()
            .filter(|payment| {
                invoice_filter
                    .as_ref()
                    .is_none_or(|id| &payment.invoice_id == id)
            })
            .collect();
        let total_pages = matching.len().div_ceil(page_size);
        let data: Vec<Value> = matching
            .iter()
            .skip((page_number - 1) * page_size)
            .take(page_size)
            .map(|payment| payment_resource(payment))
            .collect();
        Reply::json(
            200,
            json!({
                "data": data,
                "meta": {
                    "current_page": page_number,
                    "total_pages": total_pages,
                    "total_count": matching.len(),
                    "page_size": page_size,
                    "max_page_size": MAX_PAGE_SIZE,
                }
            }),
        )
    }

    fn create_payment(&mut self, request: &RecordedRequest) -> Reply {
        let content_type = request.header("Content-Type").unwrap_or("");
        if !content_type.starts_with(JSONAPI) {
            return Reply::error(
                415,
                "Unsupported Media Type",
                &format!("Content-Type must be {JSONAPI}, not \"{content_type}\""),
            );
        }
        let Ok(document) = serde_json::from_str::<Value>(&request.body) else {
            return Reply::error(400, "Bad Request", "the body is not JSON");
        };
        let data = document.get("data").cloned().unwrap_or(Value::Null);
        if data.get("type").and_then(Value::as_str) != Some("payments") {
            return invalid("/data/type", "type must be \"payments\"");
        }
        let attributes = data.get("attributes").cloned().unwrap_or(Value::Null);
        let text = |value: Option<&Value>| match value {
            Some(Value::String(text)) => Some(text.clone()),
            Some(Value::Number(number)) => Some(number.to_string()),
            _ => None,
        };

        let invoice_id = text(attributes.get("invoice_id"))
            .or_else(|| text(data.pointer("/relationships/invoice/data/id")));
        let Some(invoice_id) = invoice_id else {
            return invalid("/data/attributes/invoice_id", "invoice_id is required");
        };
        let Some(invoice_currency) = self
            .invoices
            .get(&invoice_id)
            .map(|invoice| invoice.currency.clone())
        else {
            return invalid(
                "/data/attributes/invoice_id",
                &format!("invoice {invoice_id} does not exist"),
            );
        };
        let amount = text(attributes.get("amount"))
            .and_then(|amount| amount.parse::<Decimal>().ok())
            .filter(|amount| amount.fract().is_zero());
        let Some(amount) = amount else {
            return invalid(
                "/data/attributes/amount",
                "amount must be a whole number of cents",
            );
        };
        let paid_on = text(attributes.get("paid_on"))
            .and_then(|date| NaiveDate::parse_from_str(&date, "%Y-%m-%d").ok());
        let Some(paid_on) = paid_on else {
            return invalid(
                "/data/attributes/paid_on",
                "paid_on must be a date in YYYY-MM-DD form",
            );
        };
        let currency = text(attributes.get("currency")).unwrap_or_else(|| invoice_currency.clone());
        if currency != invoice_currency {
            return invalid(
                "/data/attributes/currency",
                &format!(
                    "currency {currency} differs from the invoice currency {invoice_currency}"
                ),
            );
        }

        let payment = self.add_payment(
            &invoice_id,
            minor_to_major(amount),
            currency,
            paid_on,
            text(attributes.get("note")),
            text(attributes.get("external_id")),
        );
        Reply::json(201, json!({ "data": payment_resource(&payment) }))
    }

    fn delete_payment(&mut self, id: &str) -> Reply {
        let before = self.payments.len();
        self.payments.retain(|payment| payment.id != id);
        if self.payments.len() == before {
            return Reply::error(404, "Not Found", &format!("payment {id} does not exist"));
        }
        Reply {
            status: 204,
            body: None,
            headers: Vec::new(),
        }
    }

    fn add_payment(
        &mut self,
        invoice_id: &str,
        amount: Decimal,
        currency: String,
        paid_on: NaiveDate,
        note: Option<String>,
        external_id: Option<String>,
    ) -> DoublePayment {
        let payment = DoublePayment {
            id: self.next_payment_id.to_string(),
            invoice_id: invoice_id.to_string(),
            amount,
            currency,
            paid_on,
            note,
            external_id,
        };
        self.next_payment_id += 1;
        self.payments.push(payment.clone());
        payment
    }
}

fn invalid(pointer: &str, detail: &str) -> Reply {
    Reply::json(
        422,
        json!({ "errors": [{ "status": "422", "title": "Invalid attribute", "detail": detail, "source": { "pointer": pointer } }] }),
    )
}

/// Converts major units to the API's integer minor units.
fn cents(amount: Decimal) -> Value {
    let minor = major_to_minor(amount);
    match i64::try_from(minor) {
        Ok(whole) if minor.fract().is_zero() => Value::from(whole),
        _ => serde_json::from_str(&minor.to_string()).unwrap_or(Value::Null),
    }
}

fn payment_resource(payment: &DoublePayment) -> Value {
    json!({
        "id": payment.id,
        "type": "payments",
        "attributes": {
            "amount": cents(payment.amount),
            "currency": payment.currency,
            "paid_on": payment.paid_on.to_string(),
            "note": payment.note,
            "external_id": payment.external_id,
            "written_off_on": null,
        },
        "relationships": {
            "invoice": { "data": { "type": "invoices", "id": payment.invoice_id } }
        }
    })
}
