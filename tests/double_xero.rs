//! Drives the Xero double over HTTP with reqwest and checks the Xero
//! behaviours it imitates.

use std::collections::HashMap;
use std::time::Duration;

use chrono::NaiveDate;
use reqwest::redirect::Policy;
use reqwest::{Client, Method, Response, StatusCode};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use xerosync::sandbox::xero::{
    pkce_challenge, Consent, DoubleConfig, Fault, FaultAction, TenantSeed, XeroDouble,
};

const REDIRECT_URI: &str = "http://localhost:8910/callback";
const SCOPES: &str =
    "offline_access accounting.invoices accounting.contacts accounting.settings.read accounting.payments.read";
const VERIFIER: &str = "test-verifier-0123456789-abcdefghijklmnopqrstuvwxyz";

fn client() -> Client {
    Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("reqwest client")
}

fn start(config: DoubleConfig) -> XeroDouble {
    XeroDouble::start(config).expect("the double starts")
}

fn decimal(text: &str) -> Decimal {
    text.parse().expect("decimal literal")
}

/// Returns the query parameters of a redirect's Location header.
fn redirect_params(response: &Response) -> HashMap<String, String> {
    let location = response
        .headers()
        .get("location")
        .expect("a Location header")
        .to_str()
        .expect("ASCII Location");
    let url = url::Url::parse(location).expect("absolute Location");
    url.query_pairs().into_owned().collect()
}

async fn authorize(
    double: &XeroDouble,
    scope: &str,
    challenge: Option<&str>,
    state: &str,
) -> Response {
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", "SANDBOXCLIENT"),
        ("redirect_uri", REDIRECT_URI),
        ("scope", scope),
        ("state", state),
    ];
    if let Some(challenge) = challenge {
        params.push(("code_challenge", challenge));
        params.push(("code_challenge_method", "S256"));
    }
    client()
        .get(double.authorize_url())
        .query(&params)
        .send()
        .await
        .expect("authorize request")
}

async fn exchange(double: &XeroDouble, code: &str, verifier: &str) -> Response {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", verifier),
        ("client_id", "SANDBOXCLIENT"),
    ];
    client()
        .post(double.token_url())
        .form(&form)
        .send()
        .await
        .expect("token request")
}

async fn refresh(double: &XeroDouble, refresh_token: &str) -> Response {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
        ("client_id", "SANDBOXCLIENT"),
    ];
    client()
        .post(double.token_url())
        .form(&form)
        .send()
        .await
        .expect("refresh request")
}

struct Tokens {
    access: String,
    refresh: String,
}

/// Runs the whole PKCE flow and returns the token set.
async fn connect(double: &XeroDouble) -> Tokens {
    let challenge = pkce_challenge(VERIFIER);
    let response = authorize(double, SCOPES, Some(&challenge), "state-1").await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let code = redirect_params(&response)["code"].clone();
    let response = exchange(double, &code, VERIFIER).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("token JSON");
    Tokens {
        access: body["access_token"]
            .as_str()
            .expect("access_token")
            .to_string(),
        refresh: body["refresh_token"]
            .as_str()
            .expect("refresh_token")
            .to_string(),
    }
}

/// Builds an accounting call for the default tenant that accepts JSON.
fn api(double: &XeroDouble, token: &str, method: Method, path: &str) -> reqwest::RequestBuilder {
    client()
        .request(method, format!("{}/api.xro/2.0/{path}", double.api_url()))
        .bearer_auth(token)
        .header("xero-tenant-id", double.default_tenant_id())
        .header("Accept", "application/json")
}

fn invoice(number: &str, contact: &str) -> Value {
    json!({
        "Type": "ACCREC",
        "InvoiceNumber": number,
        "Contact": {"Name": contact},
        "Date": "2025-01-06",
        "DueDate": "2025-02-05",
        "Status": "AUTHORISED",
        "LineAmountTypes": "Exclusive",
        "LineItems": [
            {"Description": "UX/UI design", "Quantity": 32.00, "UnitAmount": 85.00, "AccountCode": "200", "TaxType": "OUTPUT2"},
            {"Description": "Front-end development", "Quantity": 48.50, "UnitAmount": 95.00, "AccountCode": "200", "TaxType": "OUTPUT2"}
        ]
    })
}

async fn put_invoices(
    double: &XeroDouble,
    token: &str,
    query: &str,
    invoices: Vec<Value>,
) -> Response {
    api(double, token, Method::PUT, &format!("Invoices{query}"))
        .json(&json!({ "Invoices": invoices }))
        .send()
        .await
        .expect("PUT Invoices")
}

fn header<'r>(response: &'r Response, name: &str) -> Option<&'r str> {
    response
        .headers()
        .get(name)
        .map(|value| value.to_str().expect("ASCII header"))
}

fn numbers_of(records: &[Value], field: &str) -> Vec<String> {
    records
        .iter()
        .map(|record| record[field].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn pkce_mismatch_rejects_and_consumes_code() {
    let double = start(DoubleConfig::default());
    let challenge = pkce_challenge(VERIFIER);
    let response = authorize(&double, SCOPES, Some(&challenge), "s").await;
    let code = redirect_params(&response)["code"].clone();

    let wrong = exchange(
        &double,
        &code,
        "another-verifier-0123456789-abcdefghijklmnopqrst",
    )
    .await;
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    let body: Value = wrong.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(double.pkce_failures(), 1);

    let retry = exchange(&double, &code, VERIFIER).await;
    assert_eq!(
        retry.status(),
        StatusCode::BAD_REQUEST,
        "a code is consumed by any exchange attempt"
    );
    assert_eq!(double.pkce_failures(), 1);
}

#[tokio::test]
async fn pkce_flow_issues_prefixed_tokens() {
    let double = start(DoubleConfig::default());
    let challenge = pkce_challenge(VERIFIER);
    let response = authorize(&double, SCOPES, Some(&challenge), "state-42").await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let params = redirect_params(&response);
    assert_eq!(params["state"], "state-42");
    assert_eq!(params["scope"], SCOPES);

    let response = exchange(&double, &params["code"], VERIFIER).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(header(&response, "xero-correlation-id").is_some());
    let body: Value = response.json().await.unwrap();
    assert!(body["access_token"]
        .as_str()
        .unwrap()
        .starts_with("sbx_at_"));
    assert!(body["refresh_token"]
        .as_str()
        .unwrap()
        .starts_with("sbx_rt_"));
    assert_eq!(body["expires_in"], 1800);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], SCOPES);
}

#[tokio::test]
async fn no_refresh_token_without_offline_access() {
    let double = start(DoubleConfig::default());
    let challenge = pkce_challenge(VERIFIER);
    let response = authorize(&double, "accounting.invoices", Some(&challenge), "s").await;
    let code = redirect_params(&response)["code"].clone();
    let body: Value = exchange(&double, &code, VERIFIER)
        .await
        .json()
        .await
        .unwrap();
    assert!(body["access_token"].is_string());
    assert!(body.get("refresh_token").is_none());
}

#[tokio::test]
async fn authorize_rejects_bad_requests() {
    let double = start(DoubleConfig::default());
    let challenge = pkce_challenge(VERIFIER);

    let response = client()
        .get(double.authorize_url())
        .query(&[
            ("response_type", "code"),
            ("client_id", "SANDBOXCLIENT"),
            ("redirect_uri", "http://localhost:9999/callback"),
            ("scope", SCOPES),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(header(&response, "location").is_none());
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("unauthorized_client : Invalid redirect_uri"));

    let response = authorize(
        &double,
        "offline_access accounting.everything",
        Some(&challenge),
        "s1",
    )
    .await;
    let params = redirect_params(&response);
    assert_eq!(params["error"], "invalid_scope");
    assert_eq!(params["state"], "s1");

    let response = authorize(&double, SCOPES, None, "s2").await;
    assert_eq!(redirect_params(&response)["error"], "invalid_request");
}

#[tokio::test]
async fn consent_deny_and_wrong_state() {
    let double = start(DoubleConfig {
        consent: Consent::Deny,
        ..DoubleConfig::default()
    });
    let challenge = pkce_challenge(VERIFIER);
    let response = authorize(&double, SCOPES, Some(&challenge), "mine").await;
    let params = redirect_params(&response);
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["state"], "mine");
    assert!(!params.contains_key("code"));

    double.set_consent(Consent::WrongState);
    let response = authorize(&double, SCOPES, Some(&challenge), "mine").await;
    let params = redirect_params(&response);
    assert!(params.contains_key("code"));
    assert_ne!(params["state"], "mine");
}

#[tokio::test]
async fn refresh_rotates_and_honours_grace() {
    let double = start(DoubleConfig {
        refresh_grace: Duration::from_secs(1),
        ..DoubleConfig::default()
    });
    let tokens = connect(&double).await;

    let first: Value = refresh(&double, &tokens.refresh)
        .await
        .json()
        .await
        .unwrap();
    let rotated = first["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(
        rotated, tokens.refresh,
        "every refresh returns a new refresh token"
    );
    assert_ne!(first["access_token"].as_str().unwrap(), tokens.access);

    let replay = refresh(&double, &tokens.refresh).await;
    assert_eq!(
        replay.status(),
        StatusCode::OK,
        "the old token works within the grace period"
    );

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let late = refresh(&double, &tokens.refresh).await;
    assert_eq!(late.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        late.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );

    let current = refresh(&double, &rotated).await;
    assert_eq!(current.status(), StatusCode::OK);
}

#[tokio::test]
async fn revoked_refresh_tokens_get_invalid_grant() {
    let double = start(DoubleConfig::default());
    let tokens = connect(&double).await;
    double.revoke_refresh_tokens();
    let response = refresh(&double, &tokens.refresh).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
}

#[tokio::test]
async fn revocation_drops_grant_and_connections() {
    let double = start(DoubleConfig::default());
    let tokens = connect(&double).await;
    let response = client()
        .post(double.revoke_url())
        .form(&[
            ("token", tokens.refresh.as_str()),
            ("client_id", "SANDBOXCLIENT"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    assert_eq!(
        refresh(&double, &tokens.refresh).await.status(),
        StatusCode::BAD_REQUEST
    );
    let connections: Value = client()
        .get(format!("{}/connections", double.api_url()))
        .bearer_auth(&tokens.access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(connections, json!([]));
}

#[tokio::test]
async fn expired_access_token_gets_401() {
    let double = start(DoubleConfig::default());
    let tokens = connect(&double).await;
    let before = api(&double, &tokens.access, Method::GET, "Organisation")
        .send()
        .await
        .unwrap();
    assert_eq!(before.status(), StatusCode::OK);

    double.expire_access_tokens();
    let after = api(&double, &tokens.access, Method::GET, "Organisation")
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
    let body: Value = after.json().await.unwrap();
    assert_eq!(body["Title"], "Unauthorized");
    assert!(body["Detail"]
        .as_str()
        .unwrap()
        .starts_with("TokenExpired: token expired at "));
}

#[tokio::test]
async fn unknown_or_removed_tenant_gets_403() {
    let double = start(DoubleConfig::default());
    let tokens = connect(&double).await;
    let response = client()
        .get(format!("{}/api.xro/2.0/Organisation", double.api_url()))
        .bearer_auth(&tokens.access)
        .header("xero-tenant-id", "00000000-0000-0000-0000-000000000000")
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        response.json::<Value>().await.unwrap()["Detail"],
        "AuthenticationUnsuccessful"
    );

    double.remove_tenant_connection(&double.default_tenant_id());
    let response = api(&double, &tokens.access, Method::GET, "Organisation")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn missing_scope_gets_401_authorization_unsuccessful() {
    let double = start(DoubleConfig::default());
    let challenge = pkce_challenge(VERIFIER);
    let response = authorize(
        &double,
        "offline_access accounting.contacts",
        Some(&challenge),
        "s",
    )
    .await;
    let code = redirect_params(&response)["code"].clone();
    let body: Value = exchange(&double, &code, VERIFIER)
        .await
        .json()
        .await
        .unwrap();
    let token = body["access_token"].as_str().unwrap();

    let response = api(&double, token, Method::GET, "Invoices")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.json::<Value>().await.unwrap()["Detail"],
        "AuthorizationUnsuccessful"
    );
    let response = api(&double, token, Method::GET, "Contacts")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn connections_list_and_delete() {
    let second = TenantSeed {
        tenant_id: "1f1e1d1c-0000-4000-8000-000000000002".into(),
        name: "Second Org".into(),
        tenant_type: "ORGANISATION".into(),
    };
    let mut config = DoubleConfig::default();
    config.tenants.push(second.clone());
    let double = start(config);
    let tokens = connect(&double).await;

    let response = client()
        .get(format!("{}/connections", double.api_url()))
        .bearer_auth(&tokens.access)
        .send()
        .await
        .unwrap();
    assert!(header(&response, "x-appminlimit-remaining").is_some());
    let connections: Vec<Value> = response.json().await.unwrap();
    assert_eq!(connections.len(), 2);
    assert_eq!(connections[0]["tenantName"], "Demo Agency Ltd");
    assert_eq!(connections[0]["tenantType"], "ORGANISATION");
    assert_eq!(connections[0]["authEventId"], connections[1]["authEventId"]);
    let created = connections[0]["createdDateUtc"].as_str().unwrap();
    assert_eq!(created.len(), "2019-12-07T18:46:19.5165400".len());
    assert!(!created.ends_with('Z'));

    let second_id = connections[1]["id"].as_str().unwrap();
    let delete = |id: String| {
        client()
            .delete(format!("{}/connections/{id}", double.api_url()))
            .bearer_auth(&tokens.access)
            .send()
    };
    assert_eq!(
        delete(second_id.to_string()).await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        delete(second_id.to_string()).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    let response = client()
        .get(format!("{}/api.xro/2.0/Organisation", double.api_url()))
        .bearer_auth(&tokens.access)
        .header("xero-tenant-id", &second.tenant_id)
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn select_tenants_connects_only_those() {
    let second_id = "1f1e1d1c-0000-4000-8000-000000000002".to_string();
    let mut config = DoubleConfig::default();
    config.tenants.push(TenantSeed {
        tenant_id: second_id.clone(),
        name: "Second Org".into(),
        tenant_type: "ORGANISATION".into(),
    });
    config.consent = Consent::SelectTenants(vec![second_id.clone()]);
    let double = start(config);
    let tokens = connect(&double).await;
    let connections: Vec<Value> = client()
        .get(format!("{}/connections", double.api_url()))
        .bearer_auth(&tokens.access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(connections.len(), 1);
    assert_eq!(connections[0]["tenantId"], second_id.as_str());
}

#[tokio::test]
async fn client_credentials_for_custom_connection() {
    let tenant_id = DoubleConfig::default().tenants[0].tenant_id.clone();
    let double = start(DoubleConfig {
        custom_connection: Some(("CUSTOMID".into(), "CUSTOMSECRET".into(), tenant_id)),
        ..DoubleConfig::default()
    });
    let wrong = client()
        .post(double.token_url())
        .basic_auth("CUSTOMID", Some("nope"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        wrong.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );

    let body: Value = client()
        .post(double.token_url())
        .basic_auth("CUSTOMID", Some("CUSTOMSECRET"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(body.get("refresh_token").is_none());
    let token = body["access_token"].as_str().unwrap();

    // A custom connection needs no xero-tenant-id header.
    let response = client()
        .get(format!("{}/api.xro/2.0/Organisation", double.api_url()))
        .bearer_auth(token)
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["Organisations"][0]["Name"], "Demo Agency Ltd");
    assert_eq!(body["Organisations"][0]["BaseCurrency"], "EUR");
}

#[tokio::test]
async fn minute_limit_gives_429_with_retry_after() {
    let double = start(DoubleConfig {
        minute_limit: 3,
        minute_window: Duration::from_secs(1),
        ..DoubleConfig::default()
    });
    let tokens = connect(&double).await;

    let mut remaining = Vec::new();
    for _ in 0..3 {
        let response = api(&double, &tokens.access, Method::GET, "Organisation")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(header(&response, "x-daylimit-remaining").is_some());
        assert!(header(&response, "x-appminlimit-remaining").is_some());
        remaining.push(
            header(&response, "x-minlimit-remaining")
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(remaining, ["2", "1", "0"]);

    let limited = api(&double, &tokens.access, Method::GET, "Organisation")
        .send()
        .await
        .unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&limited, "x-rate-limit-problem"), Some("minute"));
    assert_eq!(header(&limited, "retry-after"), Some("1"));

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let later = api(&double, &tokens.access, Method::GET, "Organisation")
        .send()
        .await
        .unwrap();
    assert_eq!(
        later.status(),
        StatusCode::OK,
        "a new window starts after Retry-After"
    );
}

#[tokio::test]
async fn day_limit_gives_429_with_long_retry_after() {
    let double = start(DoubleConfig {
        day_limit: 1,
        ..DoubleConfig::default()
    });
    let tokens = connect(&double).await;
    assert_eq!(
        api(&double, &tokens.access, Method::GET, "Organisation")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let limited = api(&double, &tokens.access, Method::GET, "Organisation")
        .send()
        .await
        .unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&limited, "x-rate-limit-problem"), Some("day"));
    let retry_after: u64 = header(&limited, "retry-after").unwrap().parse().unwrap();
    assert!(
        retry_after > 80_000,
        "Retry-After {retry_after} should reach to the end of the day window"
    );
}

#[tokio::test]
async fn concurrency_limit_rejects_extra_calls() {
    let double = start(DoubleConfig {
        concurrency_limit: 2,
        ..DoubleConfig::default()
    });
    let tokens = connect(&double).await;
    double.inject(Fault {
        method: Some("GET".into()),
        path_prefix: "/api.xro/2.0/Organisation".into(),
        times: 6,
        action: FaultAction::Delay(Duration::from_secs(1)),
    });

    let calls = (0..6).map(|_| api(&double, &tokens.access, Method::GET, "Organisation").send());
    let responses = futures_join_all(calls).await;

    let mut ok = 0;
    let mut rejected = 0;
    for response in &responses {
        match response.status() {
            StatusCode::OK => ok += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                rejected += 1;
                assert_eq!(header(response, "x-rate-limit-problem"), Some("concurrent"));
                assert!(header(response, "retry-after").is_none());
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(ok, 2, "exactly the concurrency limit gets through");
    assert_eq!(rejected, 4);
    assert!(double.max_in_flight(&double.default_tenant_id()) >= 3);
}

/// Runs request futures concurrently on the test's runtime.
async fn futures_join_all<F>(futures: impl Iterator<Item = F>) -> Vec<Response>
where
    F: std::future::Future<Output = reqwest::Result<Response>> + Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut responses = Vec::new();
    for handle in handles {
        responses.push(handle.await.expect("task").expect("request"));
    }
    responses
}

#[tokio::test]
async fn injected_rate_limit_and_maintenance_faults() {
    let double = start(DoubleConfig::default());
    let tokens = connect(&double).await;
    double.inject(Fault {
        method: None,
        path_prefix: "/api.xro/2.0/Invoices".into(),
        times: 1,
        action: FaultAction::RateLimitMinute {
            retry_after_secs: 7,
        },
    });
    double.inject(Fault {
        method: Some("PUT".into()),
        path_prefix: "/api.xro/2.0/Invoices".into(),
        times: 1,
        action: FaultAction::Status(503),
    });

    let limited = put_invoices(&double, &tokens.access, "", vec![invoice("INV-1", "Acme")]).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&limited, "retry-after"), Some("7"));
    assert_eq!(header(&limited, "x-rate-limit-problem"), Some("minute"));

    let offline = put_invoices(&double, &tokens.access, "", vec![invoice("INV-1", "Acme")]).await;
    assert_eq!(offline.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(header(&offline, "content-type")
        .unwrap()
        .starts_with("text/plain"));
    assert_eq!(
        offline.text().await.unwrap(),
        "The Xero API is currently offline for maintenance"
    );
    assert!(double.invoices(&double.default_tenant_id()).is_empty());

    let normal = put_invoices(&double, &tokens.access, "", vec![invoice("INV-1", "Acme")]).await;
    assert_eq!(normal.status(), StatusCode::OK, "faults are used up");
}

#[tokio::test]
async fn idempotency_key_replays_the_first_response() {
    let double = start(DoubleConfig::default());
    let tokens = connect(&double).await;
    let send = |body: Value, key: &str| {
        api(
            &double,
            &tokens.access,
            Method::PUT,
            "Invoices?summarizeErrors=false",
        )
        .header("Idempotency-Key", key)
        .json(&body)
        .send()
    };

    let first = send(json!({"Invoices": [invoice("INV-7", "Acme")]}), "key-1")
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let first_body = first.text().await.unwrap();

    let replay = send(json!({"Invoices": [invoice("INV-7", "Acme")]}), "key-1")
        .await
        .unwrap();
    assert_eq!(replay.status(), StatusCode::OK);
    assert_eq!(replay.text().await.unwrap(), first_body);

    // A reused key with a different body also gets the stored response.
    let other_body = send(json!({"Invoices": [invoice("INV-8", "Acme")]}), "key-1")
        .await
        .unwrap();
    assert_eq!(other_body.text().await.unwrap(), first_body);
    assert_eq!(double.invoices(&double.default_tenant_id()).len(), 1);

    let new_key: Value = send(json!({"Invoices": [invoice("INV-7", "Acme")]}), "key-2")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(new_key["Invoices"][0]["StatusAttributeString"], "ERROR");
    assert_eq!(
        new_key["Invoices"][0]["ValidationErrors"][0]["Message"],
        "Invoice # must be unique."
    );
}

#[tokio::test]
async fn per_element_results_with_summarize_errors_false() {
    let double = start(DoubleConfig::default());
    let tokens = connect(&double).await;
    let tenant = double.default_tenant_id();

    let mut no_due_date = invoice("INV-2", "Beta");
    no_due_date.as_object_mut().unwrap().remove("DueDate");
    let mut bad_account = invoice("INV-3", "Gamma");
    bad_account["LineItems"][0]["AccountCode"] = json!("999");
    let mut archived_account = invoice("INV-4", "Delta");
    archived_account["LineItems"][0]["AccountCode"] = json!("210");
    let mut bad_tax = invoice("INV-5", "Epsilon");
    bad_tax["LineItems"][1]["TaxType"] = json!("NOSUCHTAX");
    let mut no_description = invoice("INV-6", "Zeta");
    no_description["LineItems"][0]
        .as_object_mut()
        .unwrap()
        .remove("Description");

    let batch = vec![
        invoice("INV-1", "Acme"),
        no_due_date,
        bad_account,
        archived_account,
        bad_tax,
        no_description,
    ];
    let response = put_invoices(&double, &tokens.access, "?summarizeErrors=false", batch).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let elements = body["Invoices"].as_array().unwrap();
    assert_eq!(elements.len(), 6);

    let statuses: Vec<&str> = elements
        .iter()
        .map(|e| e["StatusAttributeString"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["OK", "ERROR", "ERROR", "ERROR", "ERROR", "ERROR"]
    );
    assert_eq!(elements[0]["HasErrors"], false);
    assert_eq!(elements[1]["HasErrors"], true);
    let message = |index: usize| {
        elements[index]["ValidationErrors"][0]["Message"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(message(1), "The document DueDate field must be specified");
    assert_eq!(
        message(2),
        "Account code '999' is not a valid code for this document."
    );
    assert!(message(3).starts_with("Account code '210' has been archived"));
    assert_eq!(
        message(4),
        "The TaxType code 'NOSUCHTAX' does not exist or cannot be used for this type of transaction."
    );
    assert_eq!(
        message(5),
        "The Description field is mandatory for each line item."
    );

    // Failed elements carry an InvoiceID that was never saved.
    let saved: Vec<String> = numbers_of(&double.invoices(&tenant), "InvoiceID");
    assert_eq!(saved.len(), 1);
    assert_eq!(saved[0], elements[0]["InvoiceID"].as_str().unwrap());
    let unsaved_id = elements[1]["InvoiceID"].as_str().unwrap();
    assert!(!unsaved_id.is_empty());
    assert!(!saved.contains(&unsaved_id.to_string()));
    // No contact is created for a failed element.
    let contact_names = numbers_of(&double.contacts(&tenant), "Name");
    assert_eq!(contact_names, ["Acme"]);
}

#[tokio::test]
async fn summarised_400_still_creates_valid_invoices() {
    let double = start(DoubleConfig::default());
    let tokens = connect(&double).await;
    let tenant = double.default_tenant_id();

    let mut bad = invoice("INV-2", "Beta");
    bad.as_object_mut().unwrap().remove("DueDate");
    let batch = vec![invoice("INV-1", "Acme"), bad, invoice("INV-3", "Acme")];
    let response = put_invoices(&double, &tokens.access, "", batch).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["ErrorNumber"], 10);
    assert_eq!(body["Type"], "ValidationException");
    assert_eq!(body["Message"], "A validation exception occurred");
    let elements = body["Elements"].as_array().unwrap();
    assert_eq!(elements.len(), 1, "only failed elements are listed");
    assert_eq!(elements[0]["InvoiceNumber"], "INV-2");

    let saved = numbers_of(&double.invoices(&tenant), "InvoiceNumber");
    assert_eq!(saved, ["INV-1", "INV-3"]);
}

#[tokio::test]
async fn invalid_date_fails_the_whole_request() {
    let double = start(DoubleConfig::default());
    let tokens = connect(&double).await;
    let mut bad = invoice("INV-2", "Beta");
    bad["Date"] = json!("2025-01-06 00:00:00");
    let response = put_invoices(
        &double,
        &tokens.access,
        "?summarizeErrors=false",
        vec![invoice("INV-1", "Acme"), bad],
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["ErrorNumber"], 14);
    assert_eq!(body["Type"], "PostDataInvalidException");
    assert!(body["Message"]
        .as_str()
        .unwrap()
        .contains("is not a valid AllXsd value"));
    assert!(double.invoices(&double.default_tenant_id()).is_empty());

    let malformed = api(&double, &tokens.access, Method::PUT, "Invoices")
        .body("{\"Invoices\": [")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        malformed.json::<Value>().await.unwrap()["Type"],
        "PostDataInvalidException"
    );
}

#[tokio::test]
async fn totals_follow_xero_rounding() {
    let double = start(DoubleConfig::default());
    let tokens = connect(&double).await;

    let mut inclusive = invoice("INV-2", "Acme");
    inclusive["LineAmountTypes"] = json!("Inclusive");
    inclusive["LineItems"] = json!([
        {"Description": "Catering", "Quantity": 1, "UnitAmount": 10.00, "AccountCode": "200", "TaxType": "OUTPUT"},
        {"Description": "Catering", "Quantity": 1, "UnitAmount": 10.00, "AccountCode": "200", "TaxType": "OUTPUT"}
    ]);
    let mut discounted = invoice("INV-3", "Acme");
    discounted["LineItems"] = json!([
        {"Description": "Licence", "Quantity": 100, "UnitAmount": 0.0875, "DiscountRate": 10, "AccountCode": "200", "TaxType": "ZERORATEDOUTPUT"}
    ]);
    let response = put_invoices(
        &double,
        &tokens.access,
        "",
        vec![invoice("INV-1", "Acme"), inclusive, discounted.clone()],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    let invoices = body["Invoices"].as_array().unwrap();

    // 32 × 85.00 = 2720.00 (tax 680.00) and 48.5 × 95.00 = 4607.50 (tax 1151.875 → 1151.88).
    assert_eq!(invoices[0]["SubTotal"].to_string(), "7327.50");
    assert_eq!(invoices[0]["TotalTax"].to_string(), "1831.88");
    assert_eq!(invoices[0]["Total"].to_string(), "9159.38");
    assert_eq!(invoices[0]["AmountDue"].to_string(), "9159.38");
    assert_eq!(
        invoices[0]["LineItems"][1]["TaxAmount"].to_string(),
        "1151.88"
    );
    assert!(
        text.contains("\"Total\":9159.38"),
        "amounts are JSON numbers with exact text"
    );

    // Inclusive 13 %: each line's tax is 10 − 10/1.13 = 1.1504 → 1.15.
    assert_eq!(invoices[1]["TotalTax"].to_string(), "2.30");
    assert_eq!(invoices[1]["SubTotal"].to_string(), "17.70");
    assert_eq!(invoices[1]["Total"].to_string(), "20.00");

    // UnitAmount 0.0875 is rounded to 0.09 without unitdp=4: 100 × 0.09 × 0.9.
    assert_eq!(
        invoices[2]["LineItems"][0]["LineAmount"].to_string(),
        "8.10"
    );
    assert_eq!(
        invoices[2]["LineItems"][0]["UnitAmount"].to_string(),
        "0.09"
    );

    let mut four_places = invoice("INV-4", "Acme");
    four_places["LineItems"] = discounted["LineItems"].clone();
    let response = put_invoices(&double, &tokens.access, "?unitdp=4", vec![four_places]).await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["Invoices"][0]["LineItems"][0]["UnitAmount"].to_string(),
        "0.0875"
    );
    // 100 × 0.0875 × 0.9 = 7.875 → 7.88
    assert_eq!(
        body["Invoices"][0]["LineItems"][0]["LineAmount"].to_string(),
        "7.88"
    );
}

#[tokio::test]
async fn date_fields_use_xero_formats() {
    let double = start(DoubleConfig::default());
    let tokens = connect(&double).await;
    let response = put_invoices(&double, &tokens.access, "", vec![invoice("INV-1", "Acme")]).await;
    let body: Value = response.json().await.unwrap();
    let saved = &body["Invoices"][0];
    assert_eq!(saved["Date"], "/Date(1736121600000+0000)/");
    assert_eq!(saved["DateString"], "2025-01-06T00:00:00");
    assert_eq!(saved["DueDateString"], "2025-02-05T00:00:00");
    let updated = saved["UpdatedDateUTC"].as_str().unwrap();
    assert!(updated.starts_with("/Date("));
    assert!(updated.ends_with("+0000)/"));
}

#[tokio::test]
async fn contact_by_name_is_found_or_created() {
    let double = start(DoubleConfig::default());
    let tokens = connect(&double).await;
    let tenant = double.default_tenant_id();
    let existing = double.add_contact(&tenant, "Acme Ltd", Some("ACME"), false);

    let batch = vec![
        invoice("INV-1", "acme ltd"),
        invoice("INV-2", "Acme Ltd."),
        invoice("INV-3", "Acme Ltd."),
    ];
    let response = put_invoices(&double, &tokens.access, "", batch).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["Invoices"][0]["Contact"]["ContactID"],
        existing.as_str()
    );
    assert_ne!(
        body["Invoices"][1]["Contact"]["ContactID"],
        existing.as_str()
    );
    assert_eq!(
        body["Invoices"][1]["Contact"]["ContactID"],
        body["Invoices"][2]["Contact"]["ContactID"]
    );
    assert_eq!(
        double.contacts(&tenant).len(),
        2,
        "a typo silently creates one new contact"
    );
}

#[tokio::test]
async fn contacts_put_rejects_duplicate_active_name() {
    let double = start(DoubleConfig::default());
    let tokens = connect(&double).await;
    let tenant = double.default_tenant_id();
    double.add_contact(&tenant, "Old Client", None, true);
    double.add_contact(&tenant, "Acme Ltd", None, false);

    let response = api(&double, &tokens.access, Method::PUT, "Contacts?summarizeErrors=false")
        .json(&json!({"Contacts": [{"Name": "ACME LTD"}, {"Name": "Old Client", "ContactNumber": "OC-1"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["Contacts"][0]["StatusAttributeString"], "ERROR");
    assert_eq!(
        body["Contacts"][0]["ValidationErrors"][0]["Message"],
        "The contact name ACME LTD is already assigned to another contact. \
         The contact name must be unique across all active contacts."
    );
    assert_eq!(
        body["Contacts"][1]["StatusAttributeString"], "OK",
        "archived names may be reused"
    );
}

#[tokio::test]
async fn contacts_where_and_pagination() {
    let double = start(DoubleConfig::default());
    let tokens = connect(&double).await;
    let tenant = double.default_tenant_id();
    for index in 1..=5 {
        double.add_contact(
            &tenant,
            &format!("Client {index}"),
            Some(&format!("C{index}")),
            false,
        );
    }
    double.add_contact(&tenant, "Gone Ltd", Some("GONE"), true);

    let get = |query: &'static str| {
        api(
            &double,
            &tokens.access,
            Method::GET,
            &format!("Contacts?{query}"),
        )
        .send()
    };

    let body: Value = get("page=2&pageSize=2")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        numbers_of(body["Contacts"].as_array().unwrap(), "Name"),
        ["Client 3", "Client 4"]
    );
    assert_eq!(
        body["pagination"],
        json!({"page": 2, "pageSize": 2, "pageCount": 3, "itemCount": 5})
    );

    let body: Value = get("where=Name%3D%3D%22client%202%22%20OR%20ContactNumber%3D%3D%22C4%22")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        numbers_of(body["Contacts"].as_array().unwrap(), "Name"),
        ["Client 2", "Client 4"]
    );

    let body: Value = get("where=ContactNumber%3D%3D%22GONE%22")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["Contacts"],
        json!([]),
        "archived contacts are hidden by default"
    );
    let body: Value = get("where=ContactNumber%3D%3D%22GONE%22&includeArchived=true")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["Contacts"].as_array().unwrap().len(), 1);

    let bad = get("where=Name%3D%3D").await.unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn invoice_paging_includes_line_items() {
    let double = start(DoubleConfig::default());
    let tokens = connect(&double).await;
    let batch = (1..=3)
        .map(|n| invoice(&format!("INV-{n}"), "Acme"))
        .collect();
    assert_eq!(
        put_invoices(&double, &tokens.access, "", batch)
            .await
            .status(),
        StatusCode::OK
    );

    let unpaged: Value = api(&double, &tokens.access, Method::GET, "Invoices")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(unpaged["Invoices"].as_array().unwrap().len(), 3);
    assert!(
        unpaged["Invoices"][0].get("LineItems").is_none(),
        "unpaged lists omit line items"
    );

    let paged: Value = api(
        &double,
        &tokens.access,
        Method::GET,
        "Invoices?page=1&pageSize=2",
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(
        numbers_of(paged["Invoices"].as_array().unwrap(), "InvoiceNumber"),
        ["INV-1", "INV-2"]
    );
    assert_eq!(
        paged["Invoices"][0]["LineItems"].as_array().unwrap().len(),
        2
    );
    assert_eq!(paged["pagination"]["pageCount"], 2);

    let by_number: Value = api(
        &double,
        &tokens.access,
        Method::GET,
        "Invoices?InvoiceNumbers=INV-1,INV-3",
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(
        numbers_of(by_number["Invoices"].as_array().unwrap(), "InvoiceNumber"),
        ["INV-1", "INV-3"]
    );

    let single: Value = api(&double, &tokens.access, Method::GET, "Invoices/INV-2")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(single["Invoices"][0]["InvoiceNumber"], "INV-2");
    assert_eq!(
        single["Invoices"][0]["LineItems"].as_array().unwrap().len(),
        2
    );

    let missing = api(&double, &tokens.access, Method::GET, "Invoices/INV-404")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn if_modified_since_returns_only_later_changes() {
    let double = start(DoubleConfig::default());
    let tokens = connect(&double).await;
    let tenant = double.default_tenant_id();

    double.set_clock_offset(chrono::Duration::hours(-2));
    put_invoices(
        &double,
        &tokens.access,
        "",
        vec![invoice("INV-OLD", "Acme")],
    )
    .await;
    double.set_clock_offset(chrono::Duration::zero());
    put_invoices(
        &double,
        &tokens.access,
        "",
        vec![invoice("INV-NEW", "Acme")],
    )
    .await;

    let since = (chrono::Utc::now() - chrono::Duration::hours(1))
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string();
    let list = |since: String| {
        api(&double, &tokens.access, Method::GET, "Invoices")
            .header("If-Modified-Since", since)
            .send()
    };
    let body: Value = list(since.clone()).await.unwrap().json().await.unwrap();
    assert_eq!(
        numbers_of(body["Invoices"].as_array().unwrap(), "InvoiceNumber"),
        ["INV-NEW"]
    );

    // A payment bumps the old invoice's UpdatedDateUTC.
    let payment_id = double.add_payment(
        &tenant,
        "INV-OLD",
        decimal("100.00"),
        NaiveDate::from_ymd_opt(2025, 2, 1).unwrap(),
        "Bank transfer",
    );
    let body: Value = list(since.clone()).await.unwrap().json().await.unwrap();
    assert_eq!(
        numbers_of(body["Invoices"].as_array().unwrap(), "InvoiceNumber"),
        ["INV-OLD", "INV-NEW"]
    );

    // Strictly later, to the second: a timestamp in the same second excludes it.
    let updated = double.invoices(&tenant)[0]["UpdatedDateUTC"]
        .as_str()
        .unwrap()
        .to_string();
    let millis: i64 = updated
        .trim_start_matches("/Date(")
        .split('+')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let same_second = chrono::DateTime::from_timestamp_millis(millis)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let body: Value = list(same_second).await.unwrap().json().await.unwrap();
    assert!(
        !numbers_of(body["Invoices"].as_array().unwrap(), "InvoiceNumber")
            .contains(&"INV-OLD".to_string())
    );

    let payments: Value = api(&double, &tokens.access, Method::GET, "Payments")
        .header("If-Modified-Since", since)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(payments["Payments"][0]["PaymentID"], payment_id.as_str());
}

#[tokio::test]
async fn payments_settle_and_unsettle_invoices() {
    let double = start(DoubleConfig::default());
    let tokens = connect(&double).await;
    let tenant = double.default_tenant_id();
    put_invoices(&double, &tokens.access, "", vec![invoice("INV-1", "Acme")]).await;

    let paid_on = NaiveDate::from_ymd_opt(2025, 2, 3).unwrap();
    double.add_payment(&tenant, "INV-1", decimal("159.38"), paid_on, "part");
    let final_payment = double.add_payment(&tenant, "INV-1", decimal("9000.00"), paid_on, "rest");
    let invoice_now = &double.invoices(&tenant)[0];
    assert_eq!(invoice_now["Status"], "PAID");
    assert_eq!(invoice_now["AmountPaid"].to_string(), "9159.38");
    assert_eq!(invoice_now["AmountDue"].to_string(), "0.00");
    assert_eq!(invoice_now["FullyPaidOnDate"], "/Date(1738540800000+0000)/");
    assert_eq!(invoice_now["Payments"].as_array().unwrap().len(), 2);

    double.delete_payment(&tenant, &final_payment);
    let invoice_now = &double.invoices(&tenant)[0];
    assert_eq!(invoice_now["Status"], "AUTHORISED");
    assert_eq!(invoice_now["AmountDue"].to_string(), "9000.00");
    assert!(invoice_now.get("FullyPaidOnDate").is_none());

    let body: Value = api(
        &double,
        &tokens.access,
        Method::GET,
        "Payments?where=Status%3D%3D%22DELETED%22",
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let deleted = body["Payments"].as_array().unwrap();
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0]["PaymentID"], final_payment.as_str());
    assert_eq!(deleted[0]["PaymentType"], "ACCRECPAYMENT");
    assert_eq!(deleted[0]["Invoice"]["InvoiceNumber"], "INV-1");
}

#[tokio::test]
async fn credit_notes_and_allocations() {
    let double = start(DoubleConfig::default());
    let tokens = connect(&double).await;
    let tenant = double.default_tenant_id();
    put_invoices(&double, &tokens.access, "", vec![invoice("INV-1", "Acme")]).await;

    let credit_note = json!({
        "Type": "ACCRECCREDIT",
        "CreditNoteNumber": "CN-1",
        "Contact": {"Name": "Acme"},
        "Date": "2025-01-10",
        "Status": "AUTHORISED",
        "LineItems": [{"Description": "Refund", "Quantity": 1, "UnitAmount": 100, "AccountCode": "200", "TaxType": "OUTPUT2"}]
    });
    let response = api(&double, &tokens.access, Method::PUT, "CreditNotes")
        .json(&json!({"CreditNotes": [credit_note.clone()]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let duplicate = api(
        &double,
        &tokens.access,
        Method::PUT,
        "CreditNotes?summarizeErrors=false",
    )
    .json(&json!({"CreditNotes": [credit_note]}))
    .send()
    .await
    .unwrap()
    .json::<Value>()
    .await
    .unwrap();
    assert_eq!(
        duplicate["CreditNotes"][0]["ValidationErrors"][0]["Message"],
        "Credit Note # must be unique."
    );

    double.allocate_credit_note(&tenant, "CN-1", "INV-1", decimal("125.00"));
    let invoice_now = &double.invoices(&tenant)[0];
    assert_eq!(invoice_now["AmountCredited"].to_string(), "125.00");
    assert_eq!(invoice_now["AmountDue"].to_string(), "9034.38");
    assert_eq!(invoice_now["Payments"], json!([]));
    let credit_now = &double.credit_notes(&tenant)[0];
    assert_eq!(credit_now["RemainingCredit"].to_string(), "0.00");
    assert_eq!(credit_now["Status"], "PAID");
    assert_eq!(
        credit_now["Allocations"][0]["Invoice"]["InvoiceNumber"],
        "INV-1"
    );
}

#[tokio::test]
async fn post_updates_invoice_by_number_and_void() {
    let double = start(DoubleConfig::default());
    let tokens = connect(&double).await;
    let tenant = double.default_tenant_id();
    let mut draft = invoice("INV-1", "Acme");
    draft["Status"] = json!("DRAFT");
    put_invoices(&double, &tokens.access, "", vec![draft]).await;

    let approve = api(&double, &tokens.access, Method::POST, "Invoices")
        .json(&json!({"Invoices": [{"InvoiceNumber": "INV-1", "Status": "AUTHORISED"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(approve.status(), StatusCode::OK);
    assert_eq!(double.invoices(&tenant).len(), 1);
    assert_eq!(double.invoices(&tenant)[0]["Status"], "AUTHORISED");

    double.set_invoice_status(&tenant, "INV-1", "VOIDED");
    let again = put_invoices(&double, &tokens.access, "", vec![invoice("INV-1", "Acme")]).await;
    assert_eq!(
        again.status(),
        StatusCode::OK,
        "a voided invoice's number may be used again"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn simultaneous_connections_all_answered() {
    const CONNECTIONS: usize = 16;
    let double = start(DoubleConfig::default());
    // The delay keeps every connection busy until all have been opened.
    double.inject(Fault {
        method: Some("GET".into()),
        path_prefix: "/connections".into(),
        times: CONNECTIONS,
        action: FaultAction::Delay(Duration::from_millis(200)),
    });

    // One client per request, so that each request opens its own
    // connection. The clients keep their connections open until every
    // request has its response, so no request can wait for another
    // connection to close.
    let clients: Vec<Client> = (0..CONNECTIONS).map(|_| client()).collect();
    let calls = clients.iter().map(|client| {
        client
            .get(format!("{}/connections", double.base_url()))
            .timeout(Duration::from_secs(10))
            .send()
    });
    let results = futures::future::join_all(calls).await;

    for result in results {
        let response = result.expect("every connection gets a response within 10 s");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn drop_after_commit_breaks_the_connection() {
    let double = start(DoubleConfig::default());
    let tokens = connect(&double).await;
    let tenant = double.default_tenant_id();
    double.inject(Fault {
        method: Some("PUT".into()),
        path_prefix: "/api.xro/2.0/Invoices".into(),
        times: 1,
        action: FaultAction::DropAfterCommit,
    });

    let send = || {
        api(
            &double,
            &tokens.access,
            Method::PUT,
            "Invoices?summarizeErrors=false",
        )
        .header("Idempotency-Key", "drop-1")
        .json(&json!({"Invoices": [invoice("INV-1", "Acme")]}))
        .timeout(Duration::from_secs(10))
        .send()
    };
    let error = send()
        .await
        .expect_err("the client sees a transport error, not a response");
    assert!(
        !error.is_timeout(),
        "the connection is closed, not left hanging: {error}"
    );
    assert!(error.status().is_none());

    assert_eq!(
        numbers_of(&double.invoices(&tenant), "InvoiceNumber"),
        ["INV-1"]
    );
    let logged = double
        .requests()
        .into_iter()
        .find(|request| request.method == "PUT")
        .unwrap();
    assert_eq!(logged.status, 200);
    assert_eq!(logged.tenant_id.as_deref(), Some(tenant.as_str()));

    // The retry with the same key gets the stored response and no duplicate.
    let retry = send().await.unwrap();
    assert_eq!(retry.status(), StatusCode::OK);
    let body: Value = retry.json().await.unwrap();
    assert_eq!(body["Invoices"][0]["StatusAttributeString"], "OK");
    assert_eq!(double.invoices(&tenant).len(), 1);
}

#[tokio::test]
async fn without_accept_json_the_api_answers_xml() {
    let double = start(DoubleConfig::default());
    let tokens = connect(&double).await;
    let response = client()
        .get(format!("{}/api.xro/2.0/Organisation", double.api_url()))
        .bearer_auth(&tokens.access)
        .header("xero-tenant-id", double.default_tenant_id())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(header(&response, "content-type")
        .unwrap()
        .starts_with("text/xml"));
    let text = response.text().await.unwrap();
    assert!(text.contains("<Organisations><Organisation>"));
    assert!(serde_json::from_str::<Value>(&text).is_err());
}

#[tokio::test]
async fn settings_endpoints_are_seeded() {
    let double = start(DoubleConfig::default());
    let tokens = connect(&double).await;

    let accounts: Value = api(&double, &tokens.access, Method::GET, "Accounts")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let accounts = accounts["Accounts"].as_array().unwrap();
    let find = |code: &str| {
        accounts
            .iter()
            .find(|account| account["Code"] == code)
            .unwrap()
            .clone()
    };
    assert_eq!(find("200")["Type"], "REVENUE");
    assert_eq!(find("400")["Type"], "EXPENSE");
    assert_eq!(find("090")["Type"], "BANK");
    assert_eq!(find("210")["Status"], "ARCHIVED");

    let rates: Value = api(&double, &tokens.access, Method::GET, "TaxRates")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rates = rates["TaxRates"].as_array().unwrap();
    let output2 = rates
        .iter()
        .find(|rate| rate["TaxType"] == "OUTPUT2")
        .unwrap();
    assert_eq!(output2["EffectiveRate"].to_string(), "25.0000");
    assert_eq!(output2["CanApplyToRevenue"], true);
    for tax_type in ["OUTPUT", "ZERORATEDOUTPUT", "EXEMPTOUTPUT", "NONE"] {
        assert!(
            rates.iter().any(|rate| rate["TaxType"] == tax_type),
            "missing {tax_type}"
        );
    }
}

#[tokio::test]
async fn every_request_is_recorded_with_status() {
    let double = start(DoubleConfig::default());
    let tokens = connect(&double).await;
    double.clear_requests();
    let response = api(&double, &tokens.access, Method::GET, "Invoices?page=1")
        .send()
        .await
        .unwrap();
    assert!(header(&response, "xero-correlation-id").is_some());
    let unknown = api(&double, &tokens.access, Method::GET, "Nonsense")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);

    let requests = double.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].path, "/api.xro/2.0/Invoices");
    assert_eq!(requests[0].query, "page=1");
    assert_eq!(requests[0].status, 200);
    assert_eq!(
        requests[0].header("authorization"),
        Some(format!("Bearer {}", tokens.access).as_str())
    );
    assert_eq!(requests[0].tenant_id, Some(double.default_tenant_id()));
    assert_eq!(requests[1].status, 404);
}

#[test]
fn sandbox_config_is_accepted_by_xerosync() {
    let double = start(DoubleConfig::default());
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("config.toml");
    std::fs::write(&path, double.config_toml()).unwrap();

    let overrides = xerosync::config::Overrides {
        config: Some(path),
        profile: None,
        home: Some(folder.path().to_path_buf()),
    };
    let settings = xerosync::config::Settings::load(&overrides).expect("the sandbox config loads");
    assert_eq!(settings.client_id.as_deref(), Some("SANDBOXCLIENT"));
    assert_eq!(settings.endpoints.token_url.as_str(), double.token_url());
    assert_eq!(
        settings.endpoints.api_url.as_str().trim_end_matches('/'),
        double.api_url()
    );
    assert_eq!(settings.token_store.name(), "file");
    assert_eq!(
        settings.mapping.tax_type_for(None, decimal("25.00")),
        Some("OUTPUT2")
    );
    assert_eq!(settings.mapping.account_for(None), Some("200"));
}

#[tokio::test]
async fn post_by_id_updates_and_checks_lifecycle() {
    let double = start(DoubleConfig::default());
    let tokens = connect(&double).await;
    let mut draft = invoice("INV-1", "Acme");
    draft["Status"] = json!("DRAFT");
    let body: Value = put_invoices(&double, &tokens.access, "", vec![draft])
        .await
        .json()
        .await
        .unwrap();
    let id = body["Invoices"][0]["InvoiceID"]
        .as_str()
        .unwrap()
        .to_string();
    let before = body["Invoices"][0]["UpdatedDateUTC"]
        .as_str()
        .unwrap()
        .to_string();
    tokio::time::sleep(Duration::from_millis(5)).await;

    let update = json!({"Invoices": [{"Reference": "PO-9", "LineItems": [
        {"Description": "Workshop", "Quantity": 2, "UnitAmount": 500, "AccountCode": "260", "TaxType": "OUTPUT"}
    ]}]});
    let response = api(
        &double,
        &tokens.access,
        Method::POST,
        &format!("Invoices/{id}"),
    )
    .json(&update)
    .send()
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let updated = &body["Invoices"][0];
    assert_eq!(updated["InvoiceID"], id.as_str());
    assert_eq!(updated["Reference"], "PO-9");
    assert_eq!(updated["Total"].to_string(), "1130.00");
    assert_eq!(
        updated["LineItems"].as_array().unwrap().len(),
        1,
        "omitted lines are deleted"
    );
    assert_ne!(updated["UpdatedDateUTC"].as_str().unwrap(), before);

    let void_draft = api(
        &double,
        &tokens.access,
        Method::POST,
        &format!("Invoices/{id}?summarizeErrors=false"),
    )
    .json(&json!({"Invoices": [{"Status": "VOIDED"}]}))
    .send()
    .await
    .unwrap();
    let body: Value = void_draft.json().await.unwrap();
    assert_eq!(
        body["Invoices"][0]["StatusAttributeString"], "ERROR",
        "a draft is deleted, not voided"
    );

    let unknown = api(
        &double,
        &tokens.access,
        Method::POST,
        "Invoices/00000000-0000-0000-0000-000000000000",
    )
    .json(&json!({"Invoices": [{"Reference": "x"}]}))
    .send()
    .await
    .unwrap();
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn contact_id_with_new_name_renames_contact() {
    let double = start(DoubleConfig::default());
    let tokens = connect(&double).await;
    let tenant = double.default_tenant_id();
    let contact_id = double.add_contact(&tenant, "Acme Ltd", None, false);

    let mut renamed = invoice("INV-1", "ignored");
    renamed["Contact"] = json!({"ContactID": contact_id, "Name": "Acme Group"});
    let response = put_invoices(&double, &tokens.access, "", vec![renamed]).await;
    assert_eq!(response.status(), StatusCode::OK);

    let contacts = double.contacts(&tenant);
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[0]["Name"], "Acme Group");
    assert_eq!(contacts[0]["IsCustomer"], true);

    let mut missing = invoice("INV-2", "ignored");
    missing["Contact"] = json!({"ContactID": "00000000-0000-0000-0000-000000000000"});
    let response = put_invoices(&double, &tokens.access, "", vec![missing]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn invoices_where_order_and_statuses() {
    let double = start(DoubleConfig::default());
    let tokens = connect(&double).await;
    let tenant = double.default_tenant_id();
    let acme = double.add_contact(&tenant, "Acme", None, false);
    let mut draft = invoice("INV-2", "Beta");
    draft["Status"] = json!("DRAFT");
    let mut for_acme = invoice("INV-3", "ignored");
    for_acme["Contact"] = json!({"ContactID": acme});
    put_invoices(
        &double,
        &tokens.access,
        "",
        vec![invoice("INV-1", "Beta"), draft, for_acme],
    )
    .await;

    let numbers = |query: &'static str| {
        let request = api(
            &double,
            &tokens.access,
            Method::GET,
            &format!("Invoices?{query}"),
        );
        async move {
            let body: Value = request.send().await.unwrap().json().await.unwrap();
            numbers_of(body["Invoices"].as_array().unwrap(), "InvoiceNumber")
        }
    };
    assert_eq!(numbers("Statuses=DRAFT").await, ["INV-2"]);
    assert_eq!(
        numbers("order=InvoiceNumber%20DESC").await,
        ["INV-3", "INV-2", "INV-1"]
    );
    let by_contact = format!("where=Contact.ContactID%3D%3DGUID(%22{acme}%22)");
    let body: Value = api(
        &double,
        &tokens.access,
        Method::GET,
        &format!("Invoices?{by_contact}"),
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(
        numbers_of(body["Invoices"].as_array().unwrap(), "InvoiceNumber"),
        ["INV-3"]
    );
    assert_eq!(
        numbers("where=Status%3D%3D%22AUTHORISED%22%20%26%26%20Total%3E9000").await,
        ["INV-1", "INV-3"]
    );
    assert_eq!(numbers("searchTerm=inv-2").await, ["INV-2"]);
}

#[tokio::test]
async fn validation_errors_render_as_xml_without_accept_json() {
    let double = start(DoubleConfig::default());
    let tokens = connect(&double).await;
    let mut bad = invoice("INV-1", "Acme");
    bad.as_object_mut().unwrap().remove("DueDate");
    let response = client()
        .put(format!("{}/api.xro/2.0/Invoices", double.api_url()))
        .bearer_auth(&tokens.access)
        .header("xero-tenant-id", double.default_tenant_id())
        .json(&json!({"Invoices": [bad]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let text = response.text().await.unwrap();
    assert!(text.contains("<ApiException"));
    assert!(text.contains("<ErrorNumber>10</ErrorNumber>"));
    assert!(text.contains("The document DueDate field must be specified"));
}
