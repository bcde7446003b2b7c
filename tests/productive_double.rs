//! The Productive API double, driven with plain HTTP requests.

use std::time::Duration;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::{json, Value};
use xerosync::sandbox::productive::{Fault, ProductiveDouble, ProductiveDoubleConfig};

const TOKEN: &str = "double-test-token";
const ORGANIZATION: &str = "4242";
const JSONAPI: &str = "application/vnd.api+json";

fn start(rate_limit: u32, rate_window: Duration) -> ProductiveDouble {
    let config = ProductiveDoubleConfig {
        token: TOKEN.into(),
        organization_id: ORGANIZATION.into(),
        rate_limit,
        rate_window,
    };
    let double = ProductiveDouble::start(config).unwrap();
    double.add_invoice("880103", "INV-2025-0103", "USD", "8148.02".parse().unwrap());
    double
}

fn date(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

fn url(double: &ProductiveDouble, path: &str) -> String {
    format!("{}{path}", double.base_url())
}

async fn send(request: reqwest::RequestBuilder) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    };
    (status, headers, body)
}

fn authorized(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
) -> reqwest::RequestBuilder {
    client
        .request(method, url)
        .header("X-Auth-Token", TOKEN)
        .header("X-Organization-Id", ORGANIZATION)
        .header("Content-Type", JSONAPI)
}

fn payment_body(invoice_id: &str, amount: Value) -> String {
    json!({ "data": { "type": "payments", "attributes": {
        "invoice_id": invoice_id, "amount": amount, "currency": "USD", "paid_on": "2025-02-10",
        "note": "Xero payment", "external_id": "xero-payment-1"
    }}})
    .to_string()
}

#[test]
fn double_base_url_is_loopback_api_root() {
    let double = start(100, Duration::from_secs(10));
    let base = double.base_url();
    assert_eq!(base.host_str(), Some("127.0.0.1"));
    assert_ne!(base.port(), Some(0));
    assert_eq!(base.path(), "/api/v2");
}

#[tokio::test]
async fn double_rejects_wrong_token_and_organization() {
    let double = start(100, Duration::from_secs(10));
    let client = reqwest::Client::new();
    let invoice_url = url(&double, "/invoices/880103");

    let (status, _, body) = send(
        client
            .get(&invoice_url)
            .header("X-Auth-Token", "wrong")
            .header("X-Organization-Id", ORGANIZATION),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(body["errors"][0]["status"], "401");

    let (status, _, body) = send(
        client
            .get(&invoice_url)
            .header("X-Auth-Token", TOKEN)
            .header("X-Organization-Id", "1"),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(body["errors"][0]["status"], "403");

    let (status, _, _) = send(authorized(&client, reqwest::Method::GET, &invoice_url)).await;
    assert_eq!(status, 200);

    let statuses: Vec<u16> = double
        .requests()
        .iter()
        .map(|request| request.status)
        .collect();
    assert_eq!(statuses, vec![401, 403, 200]);
}

#[tokio::test]
async fn double_invoice_amounts_in_cents() {
    let double = start(100, Duration::from_secs(10));
    double.add_existing_payment(
        "880103",
        "5000.00".parse().unwrap(),
        date("2025-02-10"),
        Some("xero-1"),
    );
    let client = reqwest::Client::new();

    let (status, headers, body) = send(authorized(
        &client,
        reqwest::Method::GET,
        &url(&double, "/invoices/880103"),
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], JSONAPI);
    assert_eq!(body["data"]["type"], "invoices");
    assert_eq!(body["data"]["attributes"]["amount_with_tax"], json!(814802));
    assert_eq!(body["data"]["attributes"]["amount_paid"], json!(500000));
    assert_eq!(body["data"]["attributes"]["amount_unpaid"], json!(314802));

    let (status, _, body) = send(authorized(
        &client,
        reqwest::Method::GET,
        &url(&double, "/invoices/999"),
    ))
    .await;
    assert_eq!(status, 404);
    assert_eq!(body["errors"][0]["status"], "404");
}

#[tokio::test]
async fn double_pages_payments_with_meta() {
    let double = start(100, Duration::from_secs(10));
    double.add_invoice("880104", "INV-2025-0104", "EUR", "2772.50".parse().unwrap());
    for day in 0..450 {
        let paid_on = date("2025-01-01") + chrono::Days::new(day % 300);
        double.add_existing_payment("880103", Decimal::ONE, paid_on, None);
    }
    double.add_existing_payment("880104", Decimal::TEN, date("2025-01-27"), None);
    let client = reqwest::Client::new();

    let page_url = url(
        &double,
        "/payments?filter[invoice_id]=880103&page[number]=3&page[size]=200",
    );
    let (status, _, body) = send(authorized(&client, reqwest::Method::GET, &page_url)).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"].as_array().unwrap().len(), 50);
    assert_eq!(body["meta"]["current_page"], json!(3));
    assert_eq!(body["meta"]["total_pages"], json!(3));
    assert_eq!(body["meta"]["total_count"], json!(450));
    assert_eq!(body["meta"]["page_size"], json!(200));
    assert_eq!(body["meta"]["max_page_size"], json!(200));
    assert_eq!(body["data"][0]["attributes"]["amount"], json!(100));
    assert_eq!(
        body["data"][0]["relationships"]["invoice"]["data"]["id"],
        "880103"
    );

    let oversized = url(
        &double,
        "/payments?filter[invoice_id]=880103&page[size]=500",
    );
    let (_, _, body) = send(authorized(&client, reqwest::Method::GET, &oversized)).await;
    assert_eq!(body["data"].as_array().unwrap().len(), 200);
    assert_eq!(body["meta"]["page_size"], json!(200));

    let (_, _, body) = send(authorized(
        &client,
        reqwest::Method::GET,
        &url(&double, "/payments"),
    ))
    .await;
    assert_eq!(body["meta"]["total_count"], json!(451));
    assert_eq!(body["meta"]["page_size"], json!(30));

    let unsupported = url(&double, "/payments?filter[person_id]=1");
    let (status, _, _) = send(authorized(&client, reqwest::Method::GET, &unsupported)).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn double_creates_and_deletes_payments() {
    let double = start(100, Duration::from_secs(10));
    let client = reqwest::Client::new();
    let payments_url = url(&double, "/payments");

    let (status, _, body) = send(
        authorized(&client, reqwest::Method::POST, &payments_url)
            .body(payment_body("880103", json!(500000))),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(body["data"]["type"], "payments");
    assert_eq!(body["data"]["attributes"]["amount"], json!(500000));
    assert_eq!(body["data"]["attributes"]["external_id"], "xero-payment-1");

    let payments = double.payments();
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0].amount, "5000.00".parse::<Decimal>().unwrap());
    assert_eq!(payments[0].currency, "USD");
    assert_eq!(payments[0].paid_on, date("2025-02-10"));
    assert_eq!(payments[0].note.as_deref(), Some("Xero payment"));

    let id = body["data"]["id"].as_str().unwrap().to_string();
    let (status, _, _) = send(authorized(
        &client,
        reqwest::Method::DELETE,
        &url(&double, &format!("/payments/{id}")),
    ))
    .await;
    assert_eq!(status, 204);
    assert!(double.payments().is_empty());
    let (status, _, _) = send(authorized(
        &client,
        reqwest::Method::DELETE,
        &url(&double, &format!("/payments/{id}")),
    ))
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn double_rejects_invalid_payments() {
    let double = start(100, Duration::from_secs(10));
    let client = reqwest::Client::new();
    let payments_url = url(&double, "/payments");

    let (status, _, body) = send(
        authorized(&client, reqwest::Method::POST, &payments_url)
            .body(payment_body("999", json!(100))),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(
        body["errors"][0]["source"]["pointer"],
        "/data/attributes/invoice_id"
    );

    let (status, _, body) = send(
        authorized(&client, reqwest::Method::POST, &payments_url)
            .body(payment_body("880103", json!(10.5))),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(
        body["errors"][0]["source"]["pointer"],
        "/data/attributes/amount"
    );

    let euro = payment_body("880103", json!(100)).replace("\"USD\"", "\"EUR\"");
    let (status, _, body) =
        send(authorized(&client, reqwest::Method::POST, &payments_url).body(euro)).await;
    assert_eq!(status, 422);
    assert_eq!(
        body["errors"][0]["source"]["pointer"],
        "/data/attributes/currency"
    );

    let plain_json = client
        .post(&payments_url)
        .header("X-Auth-Token", TOKEN)
        .header("X-Organization-Id", ORGANIZATION)
        .header("Content-Type", "application/json");
    let (status, _, _) = send(plain_json.body(payment_body("880103", json!(100)))).await;
    assert_eq!(status, 415);

    assert!(double.payments().is_empty());
}

#[tokio::test]
async fn double_limits_rate_per_token() {
    let double = start(3, Duration::from_secs(10));
    let client = reqwest::Client::new();
    let invoice_url = url(&double, "/invoices/880103");

    for _ in 0..3 {
        let (status, _, _) = send(authorized(&client, reqwest::Method::GET, &invoice_url)).await;
        assert_eq!(status, 200);
    }
    let (status, headers, body) =
        send(authorized(&client, reqwest::Method::GET, &invoice_url)).await;
    assert_eq!(status, 429);
    let reset: u64 = headers["x-ratelimit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=10).contains(&reset), "reset {reset}");
    assert_eq!(body["errors"][0]["status"], "429");
    assert_eq!(body["errors"][0]["title"], "Too many requests");
    assert_eq!(body["errors"][0]["limit"], json!(3));
    assert_eq!(body["errors"][0]["period"], json!(10));
}

#[tokio::test]
async fn double_rate_window_resets() {
    let double = start(1, Duration::from_millis(300));
    let client = reqwest::Client::new();
    let invoice_url = url(&double, "/invoices/880103");

    assert_eq!(
        send(authorized(&client, reqwest::Method::GET, &invoice_url))
            .await
            .0,
        200
    );
    assert_eq!(
        send(authorized(&client, reqwest::Method::GET, &invoice_url))
            .await
            .0,
        429
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(
        send(authorized(&client, reqwest::Method::GET, &invoice_url))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn double_injected_faults_fire_once() {
    let double = start(100, Duration::from_secs(10));
    let client = reqwest::Client::new();
    let payments_url = url(&double, "/payments");

    double.inject(Fault::ServiceUnavailable);
    assert_eq!(
        send(authorized(&client, reqwest::Method::GET, &payments_url))
            .await
            .0,
        503
    );
    assert_eq!(
        send(authorized(&client, reqwest::Method::GET, &payments_url))
            .await
            .0,
        200
    );

    double.inject(Fault::DropAfterCommit);
    assert_eq!(
        send(authorized(&client, reqwest::Method::GET, &payments_url))
            .await
            .0,
        200,
        "a read leaves the fault queued"
    );
    let dropped = authorized(&client, reqwest::Method::POST, &payments_url)
        .body(payment_body("880103", json!(100)))
        .send()
        .await;
    assert!(dropped.is_err(), "{dropped:?}");
    assert_eq!(
        double.payments().len(),
        1,
        "the payment is stored before the connection drops"
    );

    let requests = double.requests();
    let last = requests.last().unwrap();
    assert_eq!(last.method, "POST");
    assert_eq!(last.status, 0);
}

#[tokio::test]
async fn double_records_requests() {
    let double = start(100, Duration::from_secs(10));
    let client = reqwest::Client::new();
    let page_url = url(
        &double,
        "/payments?filter[invoice_id]=880103&page[number]=2",
    );
    send(authorized(&client, reqwest::Method::GET, &page_url)).await;
    send(
        authorized(&client, reqwest::Method::POST, &url(&double, "/payments"))
            .body(payment_body("880103", json!(100))),
    )
    .await;

    let requests = double.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].method, "GET");
    assert_eq!(requests[0].path, "/api/v2/payments");
    assert_eq!(
        requests[0].query_value("filter[invoice_id]"),
        Some("880103")
    );
    assert_eq!(requests[0].query_value("page[number]"), Some("2"));
    assert_eq!(requests[0].header("x-organization-id"), Some(ORGANIZATION));
    assert_eq!(requests[0].status, 200);
    assert_eq!(requests[1].method, "POST");
    assert!(
        requests[1].body.contains("\"amount\":100"),
        "{}",
        requests[1].body
    );
    assert_eq!(requests[1].status, 201);
}

#[tokio::test]
async fn double_stops_when_dropped() {
    let double = start(100, Duration::from_secs(10));
    let invoice_url = url(&double, "/invoices/880103");
    drop(double);

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let result = authorized(&client, reqwest::Method::GET, &invoice_url)
        .send()
        .await;
    assert!(result.is_err(), "{result:?}");
}
