//! The Productive API client against the local Productive double.

use std::time::{Duration, Instant};

use chrono::NaiveDate;
use rust_decimal::Decimal;
use url::Url;
use xerosync::error::Kind;
use xerosync::productive::{ProductiveClient, RetryPolicy};
use xerosync::sandbox::productive::{Fault, ProductiveDouble, ProductiveDoubleConfig};
use xerosync::secret::Secret;

const TOKEN: &str = "client-test-token-5f1e";
const ORGANIZATION: &str = "4242";

fn dec(text: &str) -> Decimal {
    text.parse().unwrap()
}

fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

fn start_double(rate_limit: u32, rate_window: Duration) -> ProductiveDouble {
    let config = ProductiveDoubleConfig {
        token: TOKEN.into(),
        organization_id: ORGANIZATION.into(),
        rate_limit,
        rate_window,
    };
    let double = ProductiveDouble::start(config).unwrap();
    double.add_invoice("880103", "INV-2025-0103", "USD", dec("8148.02"));
    double.add_invoice("880108", "INV-2025-0108", "EUR", dec("4091.56"));
    double
}

/// Short waits so that retry tests run in milliseconds.
fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(40),
        max_rate_limit_wait: Duration::from_secs(5),
        default_rate_limit_wait: Duration::from_millis(100),
    }
}

fn client_for(double: &ProductiveDouble, token: &str, organization_id: &str) -> ProductiveClient {
    ProductiveClient::new(
        double.base_url(),
        organization_id.into(),
        Secret::new(token),
    )
    .unwrap()
    .with_retry_policy(fast_retries())
}

fn client(double: &ProductiveDouble) -> ProductiveClient {
    client_for(double, TOKEN, ORGANIZATION)
}

fn statuses(double: &ProductiveDouble) -> Vec<u16> {
    double
        .requests()
        .iter()
        .map(|request| request.status)
        .collect()
}

#[tokio::test]
async fn list_payments_follows_every_page() {
    let double = start_double(1000, Duration::from_secs(10));
    for day in 0..450u64 {
        double.add_existing_payment(
            "880103",
            dec("1.25"),
            date("2025-01-01") + chrono::Days::new(day % 200),
            Some(&format!("xero-{day}")),
        );
    }
    double.add_existing_payment("880108", dec("1500.00"), date("2025-02-20"), None);

    let payments = client(&double).list_payments("880103").await.unwrap();

    assert_eq!(payments.len(), 450);
    assert!(payments
        .iter()
        .all(|payment| payment.invoice_id == "880103"));
    assert!(payments.iter().all(|payment| payment.amount == dec("1.25")));
    assert_eq!(payments[449].external_id.as_deref(), Some("xero-449"));

    let requests = double.requests();
    let pages: Vec<&str> = requests
        .iter()
        .map(|request| request.query_value("page[number]").unwrap())
        .collect();
    assert_eq!(pages, vec!["1", "2", "3"]);
    for request in &requests {
        assert_eq!(request.path, "/api/v2/payments");
        assert_eq!(request.query_value("page[size]"), Some("200"));
        assert_eq!(request.query_value("filter[invoice_id]"), Some("880103"));
    }
}

#[tokio::test]
async fn list_payments_of_invoice_without_payments() {
    let double = start_double(100, Duration::from_secs(10));
    let payments = client(&double).list_payments("880108").await.unwrap();
    assert!(payments.is_empty());
    assert_eq!(double.requests().len(), 1);
}

#[tokio::test]
async fn create_payment_sends_cents_and_headers() {
    let double = start_double(100, Duration::from_secs(10));

    let payment = client(&double)
        .create_payment(
            "880103",
            dec("5000.00"),
            "USD",
            date("2025-02-10"),
            Some("Xero payment"),
            Some("xero-payment-1"),
        )
        .await
        .unwrap();

    assert_eq!(payment.invoice_id, "880103");
    assert_eq!(payment.amount, dec("5000.00"));
    assert_eq!(payment.currency, "USD");
    assert_eq!(payment.paid_on, date("2025-02-10"));
    assert_eq!(payment.note.as_deref(), Some("Xero payment"));
    assert_eq!(payment.external_id.as_deref(), Some("xero-payment-1"));

    let stored = double.payments();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].id, payment.id);
    assert_eq!(stored[0].amount, dec("5000.00"));

    let request = double.requests().pop().unwrap();
    assert_eq!(request.method, "POST");
    assert_eq!(request.header("X-Auth-Token"), Some(TOKEN));
    assert_eq!(request.header("X-Organization-Id"), Some(ORGANIZATION));
    assert_eq!(
        request.header("Content-Type"),
        Some("application/vnd.api+json")
    );
    let body: serde_json::Value = serde_json::from_str(&request.body).unwrap();
    assert_eq!(body["data"]["type"], "payments");
    assert_eq!(
        body["data"]["attributes"]["amount"],
        serde_json::json!(500000)
    );
    assert_eq!(body["data"]["attributes"]["invoice_id"], "880103");
    assert_eq!(body["data"]["attributes"]["paid_on"], "2025-02-10");
}

#[tokio::test]
async fn create_payment_rejects_fractions_of_a_cent() {
    let double = start_double(100, Duration::from_secs(10));
    let err = client(&double)
        .create_payment(
            "880103",
            dec("10.005"),
            "USD",
            date("2025-02-10"),
            None,
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, Kind::Failed);
    assert!(err.message.contains("10.005"), "{}", err.message);
    assert!(double.requests().is_empty());
}

#[tokio::test]
async fn create_payment_for_unknown_invoice_fails() {
    let double = start_double(100, Duration::from_secs(10));
    let err = client(&double)
        .create_payment(
            "999",
            dec("10.00"),
            "USD",
            date("2025-02-10"),
            None,
            Some("xero-1"),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, Kind::Failed);
    assert!(err.message.contains("HTTP 422"), "{}", err.message);
    assert!(
        err.message.contains("invoice 999 does not exist"),
        "{}",
        err.message
    );
    assert!(double.payments().is_empty());
}

#[tokio::test]
async fn rate_limit_waits_then_succeeds() {
    let double = start_double(2, Duration::from_secs(1));
    let client = client(&double);
    client.get_invoice("880103").await.unwrap();
    client.get_invoice("880103").await.unwrap();

    let started = Instant::now();
    let invoice = client.get_invoice("880103").await.unwrap();

    assert_eq!(invoice.number, "INV-2025-0103");
    assert_eq!(statuses(&double), vec![200, 200, 429, 200]);
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "waited only {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn rate_limit_longer_than_budget_is_temporary() {
    let double = start_double(1, Duration::from_secs(30));
    let client = client(&double);
    client.get_invoice("880103").await.unwrap();

    let started = Instant::now();
    let err = client.get_invoice("880103").await.unwrap_err();

    assert_eq!(err.kind, Kind::Temporary);
    assert!(err.message.contains("rate limited"), "{}", err.message);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(statuses(&double), vec![200, 429]);
}

#[tokio::test]
async fn server_error_retried_then_succeeds() {
    let double = start_double(100, Duration::from_secs(10));
    double.inject(Fault::ServiceUnavailable);
    double.inject(Fault::ServiceUnavailable);

    let payments = client(&double).list_payments("880103").await.unwrap();

    assert!(payments.is_empty());
    assert_eq!(statuses(&double), vec![503, 503, 200]);
}

#[tokio::test]
async fn server_errors_past_budget_are_temporary() {
    let double = start_double(100, Duration::from_secs(10));
    for _ in 0..5 {
        double.inject(Fault::ServiceUnavailable);
    }

    let err = client(&double).get_invoice("880103").await.unwrap_err();

    assert_eq!(err.kind, Kind::Temporary);
    assert!(err.message.contains("failed 3 times"), "{}", err.message);
    assert!(err.message.contains("HTTP 503"), "{}", err.message);
    assert_eq!(statuses(&double), vec![503, 503, 503]);
}

#[tokio::test]
async fn dropped_create_is_not_repeated() {
    let double = start_double(100, Duration::from_secs(10));
    double.inject(Fault::DropAfterCommit);

    let payment = client(&double)
        .create_payment(
            "880108",
            dec("1500.00"),
            "EUR",
            date("2025-02-20"),
            None,
            Some("xero-payment-7"),
        )
        .await
        .unwrap();

    assert_eq!(payment.external_id.as_deref(), Some("xero-payment-7"));
    assert_eq!(payment.amount, dec("1500.00"));
    assert_eq!(double.payments().len(), 1);
    let methods: Vec<String> = double
        .requests()
        .iter()
        .map(|request| request.method.clone())
        .collect();
    assert_eq!(methods, vec!["POST", "GET"]);
}

#[tokio::test]
async fn dropped_create_without_external_id_stops() {
    let double = start_double(100, Duration::from_secs(10));
    double.inject(Fault::DropAfterCommit);

    let err = client(&double)
        .create_payment(
            "880108",
            dec("1500.00"),
            "EUR",
            date("2025-02-20"),
            None,
            None,
        )
        .await
        .unwrap_err();

    assert_eq!(err.kind, Kind::Temporary);
    assert!(
        err.message.contains("check the payments of invoice 880108"),
        "{}",
        err.message
    );
    assert_eq!(double.payments().len(), 1);
    assert_eq!(double.requests().len(), 1);
}

#[tokio::test]
async fn create_retried_after_server_error() {
    let double = start_double(100, Duration::from_secs(10));
    double.inject(Fault::ServiceUnavailable);

    client(&double)
        .create_payment(
            "880108",
            dec("1500.00"),
            "EUR",
            date("2025-02-20"),
            None,
            Some("xero-payment-8"),
        )
        .await
        .unwrap();

    assert_eq!(double.payments().len(), 1);
    let calls: Vec<(String, u16)> = double
        .requests()
        .iter()
        .map(|request| (request.method.clone(), request.status))
        .collect();
    let expected = vec![
        ("POST".to_string(), 503),
        ("GET".to_string(), 200),
        ("POST".to_string(), 201),
    ];
    assert_eq!(calls, expected);
}

#[tokio::test]
async fn rejected_token_names_the_fix() {
    let double = start_double(100, Duration::from_secs(10));
    let wrong_token = "wrong-token-9c4d";

    let err = client_for(&double, wrong_token, ORGANIZATION)
        .list_payments("880103")
        .await
        .unwrap_err();

    assert_eq!(err.kind, Kind::Config);
    assert!(
        err.message
            .contains("rejected the API token or organization id 4242"),
        "{}",
        err.message
    );
    assert!(err.message.contains("HTTP 401"), "{}", err.message);
    assert!(
        err.message.contains("xerosync connect --productive"),
        "{}",
        err.message
    );
    assert!(!err.message.contains(wrong_token), "{}", err.message);
    assert_eq!(statuses(&double), vec![401]);
}

#[tokio::test]
async fn rejected_organization_is_config_error() {
    let double = start_double(100, Duration::from_secs(10));

    let err = client_for(&double, TOKEN, "9999")
        .get_invoice("880103")
        .await
        .unwrap_err();

    assert_eq!(err.kind, Kind::Config);
    assert!(err.message.contains("HTTP 403"), "{}", err.message);
    assert!(
        err.message.contains("productive.organization_id"),
        "{}",
        err.message
    );
    assert!(!err.message.contains(TOKEN), "{}", err.message);
}

#[tokio::test]
async fn get_invoice_converts_cents() {
    let double = start_double(100, Duration::from_secs(10));
    double.add_existing_payment("880103", dec("5000.00"), date("2025-02-10"), None);

    let invoice = client(&double).get_invoice("880103").await.unwrap();

    assert_eq!(invoice.id, "880103");
    assert_eq!(invoice.currency, "USD");
    assert_eq!(invoice.amount_with_tax, dec("8148.02"));
    assert_eq!(invoice.amount_paid, dec("5000.00"));
}

#[tokio::test]
async fn get_unknown_invoice_fails() {
    let double = start_double(100, Duration::from_secs(10));
    let err = client(&double).get_invoice("404404").await.unwrap_err();
    assert_eq!(err.kind, Kind::Failed);
    assert!(err.message.contains("HTTP 404"), "{}", err.message);
    assert!(
        err.message.contains("invoice 404404 does not exist"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn delete_payment_twice_succeeds() {
    let double = start_double(100, Duration::from_secs(10));
    let id = double.add_existing_payment("880103", dec("10.00"), date("2025-02-10"), None);
    let client = client(&double);

    client.delete_payment(&id).await.unwrap();
    client.delete_payment(&id).await.unwrap();

    assert!(double.payments().is_empty());
    assert_eq!(statuses(&double), vec![204, 404]);
}

#[tokio::test]
async fn unreachable_server_is_temporary() {
    let double = start_double(100, Duration::from_secs(10));
    let client = client(&double);
    drop(double);

    let err = client.list_payments("880103").await.unwrap_err();

    assert_eq!(err.kind, Kind::Temporary);
    assert!(err.message.contains("failed 3 times"), "{}", err.message);
}

#[test]
fn plain_http_only_on_loopback() {
    let remote = Url::parse("http://api.productive.example/api/v2").unwrap();
    let err = ProductiveClient::new(remote, ORGANIZATION.into(), Secret::new(TOKEN))
        .err()
        .unwrap();
    assert_eq!(err.kind, Kind::Config);
    assert!(err.message.contains("https"), "{}", err.message);

    let secure = Url::parse("https://api.productive.example/api/v2").unwrap();
    assert!(ProductiveClient::new(secure, ORGANIZATION.into(), Secret::new(TOKEN)).is_ok());
    let empty_organization = ProductiveClient::new(
        Url::parse("https://api.productive.example/api/v2").unwrap(),
        " ".into(),
        Secret::new(TOKEN),
    );
    assert_eq!(empty_organization.err().unwrap().kind, Kind::Config);
}
