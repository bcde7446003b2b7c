//! Xero's accounting API under `/api.xro/2.0/`: bearer token and tenant
//! checks, scopes, rate limits, `Idempotency-Key` and the JSON or XML body,
//! then the endpoint handlers.

use std::thread;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use super::books::{Books, DocKind, StoredReply};
use super::format::ms_date;
use super::identity::{authenticate, unauthorized};
use super::limits::{self, Problem, Remaining};
use super::query::QueryError;
use super::server::{Handled, Incoming, Reply, Shared};
use super::state::{ConnectionOwner, State};
use super::{contacts, documents, payments, settings, xml};

pub(crate) const PREFIX: &str = "/api.xro/2.0/";

/// Xero documents `Idempotency-Key` values of up to 128 characters.
const MAX_IDEMPOTENCY_KEY: usize = 128;

/// Result of an endpoint, before it is rendered as JSON or XML.
pub(crate) struct ApiResponse {
    pub status: u16,
    pub body: ApiBody,
}

pub(crate) enum ApiBody {
    Json(Value),
    Text(String),
}

impl ApiResponse {
    /// Builds Xero's success envelope around a list of records.
    pub fn records(
        key: &str,
        records: Vec<Value>,
        pagination: Option<Value>,
        now: DateTime<Utc>,
    ) -> ApiResponse {
        let mut body = Map::new();
        body.insert("Id".into(), json!(uuid::Uuid::new_v4().to_string()));
        body.insert("Status".into(), json!("OK"));
        body.insert("ProviderName".into(), json!("xerosync sandbox"));
        body.insert("DateTimeUTC".into(), json!(ms_date(now)));
        if let Some(pagination) = pagination {
            body.insert("pagination".into(), pagination);
        }
        body.insert(key.into(), Value::Array(records));
        ApiResponse {
            status: 200,
            body: ApiBody::Json(Value::Object(body)),
        }
    }

    /// Builds Xero's summarised validation error: HTTP 400 listing only the
    /// elements that failed.
    pub fn validation_failed(elements: Vec<Value>) -> ApiResponse {
        ApiResponse::error(
            400,
            10,
            "ValidationException",
            "A validation exception occurred",
            Some(elements),
        )
    }

    /// Builds Xero's 400 response to a body it cannot read, such as a date in the
    /// wrong format or malformed JSON.
    pub fn post_data_invalid(message: &str) -> ApiResponse {
        ApiResponse::error(400, 14, "PostDataInvalidException", message, None)
    }

    pub fn query_failed(error: QueryError) -> ApiResponse {
        ApiResponse::error(400, 16, "QueryParseException", &error.0, None)
    }

    pub fn not_found() -> ApiResponse {
        ApiResponse {
            status: 404,
            body: ApiBody::Text("The resource you're looking for cannot be found".into()),
        }
    }

    fn error(
        status: u16,
        number: u32,
        kind: &str,
        message: &str,
        elements: Option<Vec<Value>>,
    ) -> ApiResponse {
        let mut body = json!({
            "ErrorNumber": number,
            "Type": kind,
            "Message": message,
        });
        if let Some(elements) = elements {
            body["Elements"] = Value::Array(elements);
        }
        ApiResponse {
            status,
            body: ApiBody::Json(body),
        }
    }
}

/// One element of a batch write: the record as Xero returns it and its
/// validation messages, which are empty when the element was saved.
pub(crate) struct ElementResult {
    pub record: Value,
    pub errors: Vec<String>,
}

/// Builds the response to a batch write.
///
/// With `summarizeErrors=false` Xero responds with 200 and marks every
/// element `OK` or `ERROR`. Otherwise one failed element turns the response
/// into a 400
/// that lists only the failed elements, although the valid ones have been
/// saved all the same. `error_flag` is the record's flag for errors
/// (`HasErrors` on documents, `HasValidationErrors` on contacts).
pub(crate) fn batch_response(
    call: &Call,
    key: &str,
    error_flag: &str,
    results: Vec<ElementResult>,
) -> ApiResponse {
    let per_element = call.per_element_results();
    let any_failed = results.iter().any(|result| !result.errors.is_empty());
    let mut records = Vec::with_capacity(results.len());
    for ElementResult { mut record, errors } in results {
        let failed = !errors.is_empty();
        if failed {
            let messages: Vec<Value> = errors
                .iter()
                .map(|message| json!({ "Message": message }))
                .collect();
            record[error_flag] = Value::Bool(true);
            record["ValidationErrors"] = Value::Array(messages);
        }
        if per_element {
            let status = if failed { "ERROR" } else { "OK" };
            record["StatusAttributeString"] = json!(status);
            records.push(record);
        } else if failed || !any_failed {
            records.push(record);
        }
    }
    if any_failed && !per_element {
        return ApiResponse::validation_failed(records);
    }
    ApiResponse::records(key, records, None, call.now)
}

/// The parts of a request the endpoint handlers read.
pub(crate) struct Call<'r> {
    pub incoming: &'r Incoming,
    pub now: DateTime<Utc>,
    /// Decimal places for `UnitAmount`: 4 with `unitdp=4`, else 2.
    pub unitdp: u32,
}

impl Call<'_> {
    /// Returns whether the client requested one result per element
    /// (`summarizeErrors=false`). Xero's spec gives that as the default, but
    /// observed behaviour is the summarised 400, so the double requires the
    /// explicit parameter.
    pub fn per_element_results(&self) -> bool {
        self.incoming
            .query_param("summarizeErrors")
            .is_some_and(|value| value.eq_ignore_ascii_case("false"))
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Resource {
    Organisation,
    Accounts,
    TaxRates,
    Currencies,
    Contacts,
    Invoices,
    CreditNotes,
    Payments,
}

struct Route {
    resource: Resource,
    id: Option<String>,
    write: bool,
}

impl Route {
    /// Parses the path. Xero matches endpoint names without regard to case.
    fn parse(incoming: &Incoming) -> Option<Route> {
        let rest = incoming.path.strip_prefix(PREFIX)?;
        let mut segments = rest
            .split('/')
            .filter(|segment| !segment.is_empty())
            .map(percent_decode);
        let name = segments.next()?.to_ascii_lowercase();
        let id = segments.next();
        if segments.next().is_some() {
            return None;
        }
        let resource = match name.as_str() {
            "organisation" => Resource::Organisation,
            "accounts" => Resource::Accounts,
            "taxrates" => Resource::TaxRates,
            "currencies" => Resource::Currencies,
            "contacts" => Resource::Contacts,
            "invoices" => Resource::Invoices,
            "creditnotes" => Resource::CreditNotes,
            "payments" => Resource::Payments,
            _ => return None,
        };
        let write = matches!(incoming.method.as_str(), "PUT" | "POST");
        Some(Route {
            resource,
            id,
            write,
        })
    }

    /// Returns the scopes of which the token needs at least one.
    fn scopes(&self) -> &'static [&'static str] {
        match (self.resource, self.write) {
            (
                Resource::Organisation
                | Resource::Accounts
                | Resource::TaxRates
                | Resource::Currencies,
                false,
            ) => &["accounting.settings", "accounting.settings.read"],
            (
                Resource::Organisation
                | Resource::Accounts
                | Resource::TaxRates
                | Resource::Currencies,
                true,
            ) => &["accounting.settings"],
            (Resource::Contacts, false) => &["accounting.contacts", "accounting.contacts.read"],
            (Resource::Contacts, true) => &["accounting.contacts"],
            (Resource::Invoices | Resource::CreditNotes, false) => &[
                "accounting.invoices",
                "accounting.invoices.read",
                "accounting.transactions",
                "accounting.transactions.read",
            ],
            (Resource::Invoices | Resource::CreditNotes, true) => {
                &["accounting.invoices", "accounting.transactions"]
            }
            (Resource::Payments, false) => &[
                "accounting.payments",
                "accounting.payments.read",
                "accounting.transactions",
                "accounting.transactions.read",
            ],
            (Resource::Payments, true) => &["accounting.payments", "accounting.transactions"],
        }
    }
}

fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = segment.get(index + 1..index + 3);
        match (
            bytes[index],
            hex.and_then(|hex| u8::from_str_radix(hex, 16).ok()),
        ) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                index += 3;
            }
            (byte, _) => {
                decoded.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// Decrements the tenant's in-flight count when the call ends, even if the
/// handler panics.
struct InFlight<'s> {
    shared: &'s Shared,
    tenant_id: String,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(tenant) = self.shared.lock().tenant_mut(&self.tenant_id) {
            tenant.limits.in_flight = tenant.limits.in_flight.saturating_sub(1);
        }
    }
}

pub(crate) fn handle(shared: &Shared, incoming: &Incoming, delay: Option<Duration>) -> Handled {
    let Some(route) = Route::parse(incoming) else {
        return Reply::not_found().into();
    };

    let admitted = admit(&mut shared.lock(), incoming, &route);
    let (tenant_id, remaining) = match admitted {
        Ok(admitted) => admitted,
        Err(handled) => return handled,
    };
    let in_flight = InFlight {
        shared,
        tenant_id: tenant_id.clone(),
    };
    if let Some(delay) = delay {
        thread::sleep(delay);
    }

    let mut reply = {
        let mut state = shared.lock();
        execute(&mut state, incoming, &route, &tenant_id)
    };
    // The call stops counting as in flight before the response is written,
    // so a client that sends its next call only after reading a response
    // stays within the limit.
    drop(in_flight);

    reply.headers.extend(remaining.headers());
    Handled {
        reply,
        tenant_id: Some(tenant_id),
    }
}

/// Builds Xero's 403 for a `xero-tenant-id` that is missing, unknown or no
/// longer connected.
fn forbidden() -> Reply {
    let body = json!({
        "Type": null,
        "Title": "Forbidden",
        "Status": 403,
        "Detail": "AuthenticationUnsuccessful",
        "Instance": uuid::Uuid::new_v4().to_string(),
        "Extensions": {},
    });
    Reply::json(403, &body)
}

/// Checks token, scope, tenant and limits, and counts the call. Returns the
/// tenant id and what remains of its limits.
fn admit(
    state: &mut State,
    incoming: &Incoming,
    route: &Route,
) -> Result<(String, Remaining), Handled> {
    let header_tenant = incoming
        .header("xero-tenant-id")
        .map(|id| id.trim().to_string());
    let rejected = |reply: Reply| Handled {
        reply,
        tenant_id: header_tenant.clone(),
    };

    let (grant_owner, grant_scopes) = match authenticate(state, incoming) {
        Ok((_, grant)) => (grant.owner, grant.scopes.clone()),
        Err(reply) => return Err(rejected(reply)),
    };
    // Xero responds with 401 AuthorizationUnsuccessful when the token lacks the
    // scope for the endpoint.
    if !route
        .scopes()
        .iter()
        .any(|scope| grant_scopes.iter().any(|granted| granted == scope))
    {
        return Err(rejected(unauthorized("AuthorizationUnsuccessful")));
    }

    // A custom connection reaches exactly one organisation and needs no
    // xero-tenant-id header.
    let tenant_id = match (grant_owner, &header_tenant) {
        (ConnectionOwner::CustomConnection, None) => state
            .config
            .custom_connection
            .as_ref()
            .map(|(_, _, tenant_id)| tenant_id.clone()),
        (_, header) => header.clone(),
    };
    let Some(tenant_id) = tenant_id else {
        return Err(rejected(forbidden()));
    };
    let Some(tenant_id) = state
        .tenants
        .iter()
        .find(|tenant| tenant.seed.tenant_id.eq_ignore_ascii_case(&tenant_id))
        .filter(|tenant| tenant.seed.tenant_type == "ORGANISATION")
        .map(|tenant| tenant.seed.tenant_id.clone())
    else {
        return Err(rejected(forbidden()));
    };
    if !state.is_connected(&tenant_id, grant_owner) {
        return Err(rejected(forbidden()));
    }

    let accepted = |reply: Reply| Handled {
        reply,
        tenant_id: Some(tenant_id.clone()),
    };
    count_call(state, &tenant_id).map_err(accepted)?;
    let remaining = remaining_limits(state, &tenant_id);
    Ok((tenant_id, remaining))
}

/// Applies the day, minute and concurrency limits in that order, then
/// counts an admitted call. Rejected calls are not counted.
fn count_call(state: &mut State, tenant_id: &str) -> Result<(), Reply> {
    let now = Instant::now();
    let minute_window = state.config.minute_window;
    let (minute_limit, day_limit) = (state.config.minute_limit, state.config.day_limit);
    let concurrency_limit = state.config.concurrency_limit;
    let app_minute = state
        .app_minute
        .remaining(now, minute_window, limits::APP_MINUTE_LIMIT);
    let limits = &mut state
        .tenant_mut(tenant_id)
        .expect("admitted tenant exists")
        .limits;

    let remaining = Remaining {
        minute: limits.minute.remaining(now, minute_window, minute_limit),
        day: limits.day.remaining(now, limits::DAY, day_limit),
        app_minute,
    };
    if remaining.day == 0 {
        let retry_after = limits.day.seconds_left(now, limits::DAY);
        return Err(limits::too_many_requests(
            Problem::Day,
            Some(retry_after),
            remaining,
        ));
    }
    if remaining.minute == 0 {
        let retry_after = limits.minute.seconds_left(now, minute_window);
        return Err(limits::too_many_requests(
            Problem::Minute,
            Some(retry_after),
            remaining,
        ));
    }
    // The highest count includes a call about to be rejected, so that
    // max_in_flight shows what the client attempted.
    limits.in_flight += 1;
    limits.max_in_flight = limits.max_in_flight.max(limits.in_flight);
    if limits.in_flight > concurrency_limit {
        limits.in_flight -= 1;
        return Err(limits::too_many_requests(
            Problem::Concurrent,
            None,
            remaining,
        ));
    }

    limits.minute.count_call(now, minute_window);
    limits.day.count_call(now, limits::DAY);
    state.app_minute.count_call(now, minute_window);
    Ok(())
}

fn remaining_limits(state: &mut State, tenant_id: &str) -> Remaining {
    let now = Instant::now();
    let minute_window = state.config.minute_window;
    let (minute_limit, day_limit) = (state.config.minute_limit, state.config.day_limit);
    let app_minute = state
        .app_minute
        .remaining(now, minute_window, limits::APP_MINUTE_LIMIT);
    let limits = &mut state
        .tenant_mut(tenant_id)
        .expect("admitted tenant exists")
        .limits;
    Remaining {
        minute: limits.minute.remaining(now, minute_window, minute_limit),
        day: limits.day.remaining(now, limits::DAY, day_limit),
        app_minute,
    }
}

/// Runs the endpoint, replaying or storing the response for an
/// `Idempotency-Key`.
fn execute(state: &mut State, incoming: &Incoming, route: &Route, tenant_id: &str) -> Reply {
    let now = state.now();
    let tenant = state.tenant_mut(tenant_id).expect("admitted tenant exists");
    let idempotency_key = match incoming.header("idempotency-key") {
        Some(key) if route.write => Some(key.to_string()),
        _ => None,
    };

    if let Some(key) = &idempotency_key {
        if key.len() > MAX_IDEMPOTENCY_KEY {
            let message = format!(
                "Idempotency-Key is {} characters long, but the maximum is 128.",
                key.len()
            );
            return render(incoming, ApiResponse::post_data_invalid(&message));
        }
        // The same key returns the stored response without doing anything,
        // even when the body differs.
        // NOTE: Xero's response to a reused key with a different body is not
        // documented. Replaying the stored response is this double's choice.
        if let Some(stored) = tenant.books.idempotency.get(key) {
            return Reply::new(stored.status, &stored.content_type, stored.body.clone());
        }
    }

    let call = Call {
        incoming,
        now,
        unitdp: match incoming.query_param("unitdp").as_deref() {
            Some("4") => 4,
            _ => 2,
        },
    };
    let response = dispatch(&mut tenant.books, &tenant.seed, &call, route);
    let reply = render(incoming, response);

    if let Some(key) = idempotency_key {
        let content_type = reply
            .headers
            .iter()
            .find(|(name, _)| name == "Content-Type")
            .map(|(_, value)| value.clone())
            .unwrap_or_default();
        let stored = StoredReply {
            status: reply.status,
            content_type,
            body: reply.body.clone(),
        };
        tenant.books.idempotency.insert(key, stored);
    }
    reply
}

fn dispatch(
    books: &mut Books,
    seed: &super::TenantSeed,
    call: &Call,
    route: &Route,
) -> ApiResponse {
    let id = route.id.as_deref();
    let method = call.incoming.method.as_str();
    match (route.resource, method, id) {
        (Resource::Organisation, "GET", None) => settings::organisation(seed, call),
        (Resource::Accounts, "GET", _) => settings::accounts(books, call, id),
        (Resource::TaxRates, "GET", None) => settings::tax_rates(books, call),
        (Resource::Currencies, "GET", None) => settings::currencies(books, call),
        (Resource::Contacts, "GET", None) => contacts::list(books, call),
        (Resource::Contacts, "GET", Some(id)) => contacts::get(books, call, id),
        (Resource::Contacts, "PUT", None) => contacts::write(books, call, false, None),
        (Resource::Contacts, "POST", _) => contacts::write(books, call, true, id),
        (Resource::Invoices, "GET", None) => documents::list(books, call, DocKind::Invoice),
        (Resource::Invoices, "GET", Some(id)) => documents::get(books, call, DocKind::Invoice, id),
        (Resource::Invoices, "PUT", None) => {
            documents::write(books, call, DocKind::Invoice, false, None)
        }
        (Resource::Invoices, "POST", _) => {
            documents::write(books, call, DocKind::Invoice, true, id)
        }
        (Resource::CreditNotes, "GET", None) => documents::list(books, call, DocKind::CreditNote),
        (Resource::CreditNotes, "GET", Some(id)) => {
            documents::get(books, call, DocKind::CreditNote, id)
        }
        (Resource::CreditNotes, "PUT", None) => {
            documents::write(books, call, DocKind::CreditNote, false, None)
        }
        (Resource::CreditNotes, "POST", _) => {
            documents::write(books, call, DocKind::CreditNote, true, id)
        }
        (Resource::Payments, "GET", None) => payments::list(books, call),
        (Resource::Payments, "GET", Some(id)) => payments::get(books, call, id),
        // Xero lists 501 for a method an endpoint does not implement.
        _ => ApiResponse {
            status: 501,
            body: ApiBody::Text(format!("{method} is not implemented for this endpoint")),
        },
    }
}

/// Renders JSON when the client accepts it, else XML as Xero does.
fn render(incoming: &Incoming, response: ApiResponse) -> Reply {
    match response.body {
        ApiBody::Text(text) => Reply::text(response.status, &text),
        ApiBody::Json(value) if incoming.wants_json() => Reply::json(response.status, &value),
        ApiBody::Json(value) => Reply::new(
            response.status,
            "text/xml; charset=utf-8",
            xml::render(&value).into_bytes(),
        ),
    }
}
