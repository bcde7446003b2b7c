//! A local double of Xero's identity server and accounting API.
//!
//! Integration tests and `cargo run --example sandbox` point xerosync at it
//! in place of login.xero.com, identity.xero.com and api.xero.com. It keeps
//! everything in memory, imitates the Xero behaviours a client has to
//! handle (PKCE, refresh-token rotation, tenant headers, rate limits, batch
//! writes that partly fail), records every request and lets tests inject
//! faults. It listens on 127.0.0.1 on a random port and stops when dropped.

mod accounting;
mod books;
mod contacts;
mod documents;
mod fields;
mod format;
mod http1;
mod identity;
mod limits;
mod payments;
mod query;
mod server;
mod settings;
mod state;
mod xml;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::Value;

use books::{Allocation, Books, Contact, DocKind, Payment};
use server::{Running, Shared};
use state::State;

/// Tenant id of the organisation that `DoubleConfig::default()` seeds.
pub const DEFAULT_TENANT_ID: &str = "6b5c8f0e-3d2a-4c1b-9e7f-2a4d6c8e0b13";

/// Settings of the double. `Default` gives one organisation and Xero's
/// documented limits.
#[derive(Clone, Debug)]
pub struct DoubleConfig {
    /// The registered PKCE app.
    pub client_id: String,
    /// Registered redirect URIs, matched exactly as Xero does.
    pub redirect_uris: Vec<String>,
    /// `(client_id, client_secret, tenant_id)` of a custom connection, which
    /// uses the client-credentials grant.
    pub custom_connection: Option<(String, String, String)>,
    pub tenants: Vec<TenantSeed>,
    pub access_token_lifetime: Duration,
    /// How long a rotated refresh token is still accepted (Xero: 30 min).
    pub refresh_grace: Duration,
    /// Calls per `minute_window` per tenant.
    pub minute_limit: u32,
    /// Length of the fixed window for `minute_limit`, which tests shorten.
    pub minute_window: Duration,
    /// Calls per day per tenant.
    pub day_limit: u32,
    /// Calls in flight per tenant.
    pub concurrency_limit: usize,
    pub consent: Consent,
}

impl Default for DoubleConfig {
    fn default() -> DoubleConfig {
        DoubleConfig {
            client_id: "SANDBOXCLIENT".into(),
            redirect_uris: vec!["http://localhost:8910/callback".into()],
            custom_connection: None,
            tenants: vec![TenantSeed {
                tenant_id: DEFAULT_TENANT_ID.into(),
                name: "Demo Agency Ltd".into(),
                tenant_type: "ORGANISATION".into(),
            }],
            access_token_lifetime: Duration::from_secs(1800),
            refresh_grace: Duration::from_secs(30 * 60),
            minute_limit: 60,
            minute_window: Duration::from_secs(60),
            day_limit: 5000,
            concurrency_limit: 5,
            consent: Consent::Allow,
        }
    }
}

/// A tenant the user can connect. Only `ORGANISATION` tenants serve the
/// accounting API. Xero also has `PRACTICE` tenants.
#[derive(Clone, Debug)]
pub struct TenantSeed {
    pub tenant_id: String,
    pub name: String,
    pub tenant_type: String,
}

/// The simulated user's choice on Xero's consent page.
#[derive(Clone, Debug)]
pub enum Consent {
    Allow,
    Deny,
    /// Allows, but the redirect carries a `state` other than the request's.
    WrongState,
    /// Allows, connecting only these tenant ids.
    SelectTenants(Vec<String>),
}

#[derive(Clone, Debug)]
pub enum FaultAction {
    /// Responds with this status and a plain-text body, like Xero's
    /// maintenance page, and does nothing else.
    Status(u16),
    /// Waits, then handles the request normally. On the accounting API the
    /// wait happens after the call is admitted, so it counts as in flight.
    Delay(Duration),
    /// Handles and commits the request, then closes the connection before
    /// any byte of the response, so the client sees a transport error.
    DropAfterCommit,
    /// Responds with 429 as Xero's minute limit does.
    RateLimitMinute { retry_after_secs: u64 },
    /// Responds with 429 as Xero's day limit does.
    RateLimitDay,
}

/// A fault for the next `times` requests whose method (when given) and path
/// prefix match, e.g. `/api.xro/2.0/Invoices`.
#[derive(Clone, Debug)]
pub struct Fault {
    pub method: Option<String>,
    pub path_prefix: String,
    pub times: usize,
    pub action: FaultAction,
}

/// A request as the double received it, with the status of its response.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// The raw query string, without `?`.
    pub query: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// 0 while the request is still being handled.
    pub status: u16,
    pub tenant_id: Option<String>,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// Returns the PKCE `S256` challenge of a verifier:
/// base64url without padding of its SHA-256.
pub fn pkce_challenge(verifier: &str) -> String {
    identity::pkce_challenge(verifier)
}

/// The running double. Dropping it stops the server.
pub struct XeroDouble {
    shared: Arc<Shared>,
    base_url: String,
    default_tenant_id: String,
    _running: Running,
}

impl XeroDouble {
    /// Starts the double on 127.0.0.1 with a random port.
    pub fn start(config: DoubleConfig) -> std::io::Result<XeroDouble> {
        let default_tenant_id = config
            .tenants
            .first()
            .map(|tenant| tenant.tenant_id.clone())
            .unwrap_or_default();
        let shared = Arc::new(Shared::new(State::new(config)));
        let running = Running::start(Arc::clone(&shared))?;
        Ok(XeroDouble {
            shared,
            base_url: format!("http://{}", running.address),
            default_tenant_id,
            _running: running,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    pub fn authorize_url(&self) -> String {
        format!("{}/identity/connect/authorize", self.base_url)
    }

    pub fn token_url(&self) -> String {
        format!("{}/connect/token", self.base_url)
    }

    pub fn revoke_url(&self) -> String {
        format!("{}/connect/revocation", self.base_url)
    }

    /// Returns the base URL under which `/connections` and
    /// `/api.xro/2.0/…` are served.
    pub fn api_url(&self) -> String {
        self.base_url.clone()
    }

    /// Id of the first seeded tenant.
    pub fn default_tenant_id(&self) -> String {
        self.default_tenant_id.clone()
    }

    /// Builds a xerosync `config.toml` that points at this double, with a
    /// `[mapping]` from the sample exports' Croatian VAT rates (25, 13 and
    /// 0 %) to the double's tax types and account 200 (Sales).
    pub fn config_toml(&self) -> String {
        let (client_id, redirect_uri) = {
            let state = self.shared.lock();
            let redirect_uri = state
                .config
                .redirect_uris
                .first()
                .cloned()
                .unwrap_or_default();
            (state.config.client_id.clone(), redirect_uri)
        };
        format!(
            r#"# xerosync configuration for the local Xero sandbox at {base_url}
[xero]
client_id = "{client_id}"
redirect_uri = "{redirect_uri}"
authorize_url = "{authorize_url}"
token_url = "{token_url}"
revoke_url = "{revoke_url}"
api_url = "{api_url}"

[auth]
token_store = "file"

[mapping]
default_account_code = "200"

[mapping.tax_types]
"25" = "OUTPUT2"
"13" = "OUTPUT"
"0" = "ZERORATEDOUTPUT"
"#,
            base_url = self.base_url(),
            authorize_url = self.authorize_url(),
            token_url = self.token_url(),
            revoke_url = self.revoke_url(),
            api_url = self.api_url(),
        )
    }

    pub fn set_consent(&self, consent: Consent) {
        self.shared.lock().consent = consent;
    }

    /// Adds a fault. Faults are matched in the order they were injected, and
    /// a fault with `times == 0` is ignored.
    pub fn inject(&self, fault: Fault) {
        if fault.times > 0 {
            self.shared.lock().faults.push(fault);
        }
    }

    /// Makes every access token issued so far expire now.
    pub fn expire_access_tokens(&self) {
        let mut state = self.shared.lock();
        let (now, wall) = (Instant::now(), Utc::now());
        for token in state.auth.access_tokens.values_mut() {
            token.expires = now;
            token.expires_wall = wall;
        }
    }

    /// Revokes every refresh token issued so far, so refreshing fails with
    /// `invalid_grant` from now on.
    pub fn revoke_refresh_tokens(&self) {
        let mut state = self.shared.lock();
        for token in state.auth.refresh_tokens.values_mut() {
            token.revoked = true;
        }
    }

    /// Disconnects an organisation: it disappears from `/connections` and
    /// its accounting calls get 403. A later consent connects it again.
    pub fn remove_tenant_connection(&self, tenant_id: &str) {
        self.shared
            .lock()
            .connections
            .retain(|connection| !connection.tenant_id.eq_ignore_ascii_case(tenant_id));
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared
            .lock()
            .requests
            .iter()
            .map(|logged| logged.request.clone())
            .collect()
    }

    pub fn clear_requests(&self) {
        self.shared.lock().requests.clear();
    }

    /// Returns the highest number of accounting calls in flight at once for
    /// the tenant, counting calls rejected by the concurrency limit.
    pub fn max_in_flight(&self, tenant_id: &str) -> usize {
        self.shared
            .lock()
            .tenant(tenant_id)
            .map_or(0, |tenant| tenant.limits.max_in_flight)
    }

    /// Returns how many code exchanges failed because the PKCE verifier did
    /// not match the challenge.
    pub fn pkce_failures(&self) -> usize {
        self.shared.lock().pkce_failures
    }

    /// Returns the tenant's invoices as `GET /Invoices/{id}` shows them
    /// (with line items, unit amounts to 2 places), in creation order.
    pub fn invoices(&self, tenant_id: &str) -> Vec<Value> {
        self.documents(tenant_id, DocKind::Invoice)
    }

    pub fn credit_notes(&self, tenant_id: &str) -> Vec<Value> {
        self.documents(tenant_id, DocKind::CreditNote)
    }

    fn documents(&self, tenant_id: &str, kind: DocKind) -> Vec<Value> {
        self.with_books(tenant_id, |books, _| {
            books
                .documents
                .iter()
                .filter(|document| document.kind == kind)
                .map(|document| documents::document_json(books, document, 2, true))
                .collect()
        })
    }

    /// Returns all contacts of the tenant, archived ones included.
    pub fn contacts(&self, tenant_id: &str) -> Vec<Value> {
        self.with_books(tenant_id, |books, _| {
            books.contacts.iter().map(contacts::contact_json).collect()
        })
    }

    /// Returns all payments of the tenant, deleted ones included.
    pub fn payments(&self, tenant_id: &str) -> Vec<Value> {
        self.with_books(tenant_id, |books, _| {
            books
                .payments
                .iter()
                .map(|payment| payments::payment_json(books, payment))
                .collect()
        })
    }

    /// Adds a contact and returns its ContactID.
    ///
    /// Panics if the tenant is unknown or, for an active contact, if another
    /// active contact has the same name, which Xero does not allow.
    pub fn add_contact(
        &self,
        tenant_id: &str,
        name: &str,
        contact_number: Option<&str>,
        archived: bool,
    ) -> String {
        self.with_books(tenant_id, |books, now| {
            if !archived {
                let same_name = contacts::active_by_name(books, name, None);
                assert!(
                    same_name.is_none(),
                    "{}",
                    contacts::duplicate_name_message(name)
                );
            }
            let id = uuid::Uuid::new_v4().to_string();
            books.contacts.push(Contact {
                id: id.clone(),
                name: name.to_string(),
                contact_number: contact_number.map(str::to_string),
                account_number: None,
                email: None,
                first_name: None,
                last_name: None,
                tax_number: None,
                status: if archived { "ARCHIVED" } else { "ACTIVE" }.into(),
                is_customer: false,
                is_supplier: false,
                updated: now,
            });
            id
        })
    }

    /// Records a payment on an approved invoice and returns its PaymentID.
    /// Updates AmountPaid and AmountDue, sets Status `PAID` and
    /// FullyPaidOnDate when nothing is left due, and bumps UpdatedDateUTC.
    ///
    /// Panics if the invoice is not found, is not `AUTHORISED`, or the
    /// amount is not positive or exceeds the amount due.
    pub fn add_payment(
        &self,
        tenant_id: &str,
        invoice_number: &str,
        amount: Decimal,
        date: NaiveDate,
        reference: &str,
    ) -> String {
        self.with_books(tenant_id, |books, now| {
            let index = live_document(books, DocKind::Invoice, invoice_number);
            let invoice = &books.documents[index];
            assert_eq!(invoice.status, "AUTHORISED", "invoice {invoice_number} must be AUTHORISED to take a payment");
            assert!(
                amount > Decimal::ZERO && amount <= invoice.amount_due(),
                "payment {amount} on invoice {invoice_number} must be positive and at most the amount due {}",
                invoice.amount_due()
            );
            let id = uuid::Uuid::new_v4().to_string();
            books.payments.push(Payment {
                id: id.clone(),
                invoice_id: invoice.id.clone(),
                date,
                amount,
                reference: reference.to_string(),
                status: "AUTHORISED".into(),
                updated: now,
            });
            books.settle_invoice(index, now);
            id
        })
    }

    /// Adds an approved invoice with a given InvoiceID, as if it had been
    /// copied to Xero before (by hand or by another tool): one line of
    /// `total` without tax, on account 200, for a contact named after the
    /// invoice number. Returns the InvoiceID.
    ///
    /// Panics if the tenant is unknown or the number is already in use.
    pub fn insert_existing_invoice(
        &self,
        tenant_id: &str,
        invoice_number: &str,
        invoice_id: &str,
        currency: &str,
        total: Decimal,
    ) -> String {
        self.with_books(tenant_id, |books, now| {
            assert!(
                books
                    .document_index_by_number(DocKind::Invoice, invoice_number)
                    .is_none(),
                "invoice {invoice_number} already exists in tenant {tenant_id}"
            );
            let contact_id = uuid::Uuid::new_v4().to_string();
            books.contacts.push(Contact {
                id: contact_id.clone(),
                name: format!("Customer of {invoice_number}"),
                contact_number: None,
                account_number: None,
                email: None,
                first_name: None,
                last_name: None,
                tax_number: None,
                status: "ACTIVE".into(),
                is_customer: true,
                is_supplier: false,
                updated: now,
            });
            books.documents.push(books::Document {
                kind: DocKind::Invoice,
                id: invoice_id.to_string(),
                doc_type: "ACCREC".into(),
                number: invoice_number.to_string(),
                contact_id,
                date: now.date_naive(),
                due_date: Some(now.date_naive() + chrono::Duration::days(30)),
                status: "AUTHORISED".into(),
                line_amount_types: "NoTax".into(),
                lines: vec![books::Line {
                    id: uuid::Uuid::new_v4().to_string(),
                    description: Some("Copied to Xero earlier".into()),
                    quantity: Decimal::ONE,
                    unit_amount: total,
                    item_code: None,
                    account_code: Some("200".into()),
                    tax_type: Some("NONE".into()),
                    tax_amount: Decimal::ZERO,
                    line_amount: total,
                    discount_rate: None,
                    discount_amount: None,
                }],
                sub_total: total,
                total_tax: Decimal::ZERO,
                total,
                currency_code: currency.to_string(),
                currency_rate: Decimal::ONE,
                reference: None,
                branding_theme_id: None,
                url: None,
                amount_paid: Decimal::ZERO,
                amount_credited: Decimal::ZERO,
                fully_paid_on: None,
                updated: now,
            });
            invoice_id.to_string()
        })
    }

    /// Deletes a payment the way Xero shows it: the payment stays with
    /// Status `DELETED`, and the invoice's amounts and status are restored.
    ///
    /// Panics if the payment is not found.
    pub fn delete_payment(&self, tenant_id: &str, payment_id: &str) {
        self.with_books(tenant_id, |books, now| {
            let payment = books
                .payments
                .iter_mut()
                .find(|payment| payment.id.eq_ignore_ascii_case(payment_id))
                .unwrap_or_else(|| panic!("payment {payment_id} not found in tenant {tenant_id}"));
            payment.status = "DELETED".into();
            payment.updated = now;
            let invoice_id = payment.invoice_id.clone();
            if let Some(index) = books.document_index(DocKind::Invoice, &invoice_id) {
                books.settle_invoice(index, now);
            }
        });
    }

    /// Sets an invoice's Status (e.g. `VOIDED` or `DELETED`) as if a user
    /// changed it in Xero, and bumps UpdatedDateUTC.
    ///
    /// Panics if the invoice is not found.
    pub fn set_invoice_status(&self, tenant_id: &str, invoice_number: &str, status: &str) {
        self.with_books(tenant_id, |books, now| {
            let index = live_document(books, DocKind::Invoice, invoice_number);
            let invoice = &mut books.documents[index];
            invoice.status = status.to_ascii_uppercase();
            invoice.updated = now;
        });
    }

    /// Allocates part of a credit note to an invoice: AmountCredited and
    /// AmountDue change on the invoice and RemainingCredit on the credit
    /// note, with no payment record.
    ///
    /// Panics if either document is not found, or the amount is not
    /// positive or exceeds the remaining credit or the amount due.
    pub fn allocate_credit_note(
        &self,
        tenant_id: &str,
        credit_note_number: &str,
        invoice_number: &str,
        amount: Decimal,
    ) {
        self.with_books(tenant_id, |books, now| {
            let credit_index = live_document(books, DocKind::CreditNote, credit_note_number);
            let invoice_index = live_document(books, DocKind::Invoice, invoice_number);
            let (credit_note, invoice) = (&books.documents[credit_index], &books.documents[invoice_index]);
            assert!(
                amount > Decimal::ZERO && amount <= credit_note.amount_due() && amount <= invoice.amount_due(),
                "allocation {amount} must be positive and at most the remaining credit {} and the amount due {}",
                credit_note.amount_due(),
                invoice.amount_due()
            );
            books.allocations.push(Allocation {
                id: uuid::Uuid::new_v4().to_string(),
                credit_note_id: credit_note.id.clone(),
                invoice_id: invoice.id.clone(),
                amount,
                date: now.date_naive(),
            });
            books.settle_invoice(invoice_index, now);
            books.settle_credit_note(credit_index, now);
        });
    }

    /// Shifts the clock used for UpdatedDateUTC and other data timestamps.
    /// Token lifetimes and rate-limit windows keep real time.
    pub fn set_clock_offset(&self, offset: chrono::Duration) {
        self.shared.lock().clock_offset = offset;
    }

    /// Runs `action` on a tenant's books with the double's current time.
    /// Panics if the tenant is unknown.
    fn with_books<T>(
        &self,
        tenant_id: &str,
        action: impl FnOnce(&mut Books, chrono::DateTime<Utc>) -> T,
    ) -> T {
        let mut state = self.shared.lock();
        let now = state.now();
        let tenant = state
            .tenant_mut(tenant_id)
            .unwrap_or_else(|| panic!("tenant {tenant_id} is not seeded in the Xero double"));
        action(&mut tenant.books, now)
    }
}

/// Finds a document by number, preferring one that is not voided or
/// deleted. Panics if there is none.
fn live_document(books: &Books, kind: DocKind, number: &str) -> usize {
    books
        .document_index_by_number(kind, number)
        .unwrap_or_else(|| panic!("{kind:?} {number} not found in the Xero double"))
}
