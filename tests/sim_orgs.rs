//! One simulator serving several orgs over HTTP: each org's client reaches only its own dataset
//! and tenant, each org has its own limits, and the simulator's ground truth (rates, stats,
//! report) covers every org.

use std::sync::{Arc, OnceLock};

use digital_recovery::sim::genesys::ClientRates;
use digital_recovery::sim::recording::{RecordingSimConfig, SimReport, factory_with_stores};
use digital_recovery::sim::{self, SimConfig};
use reqwest::StatusCode;
use serde_json::Value;

async fn token(http: &reqwest::Client, base: &str, id: &str, secret: &str) -> (StatusCode, Value) {
    let response = http
        .post(format!("{base}/oauth/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let status = response.status();
    (
        status,
        response.json().await.unwrap_or_else(|e| panic!("{e}")),
    )
}

async fn bearer(http: &reqwest::Client, base: &str, id: &str, secret: &str) -> String {
    let (status, body) = token(http, base, id, secret).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_string()
}

async fn get(http: &reqwest::Client, url: String, bearer: &str) -> (StatusCode, Value) {
    let response = http
        .get(url)
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn plain<T: serde::de::DeserializeOwned>(http: &reqwest::Client, url: String) -> T {
    http.get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn each_org_has_its_own_client_dataset_tenant_and_limits() {
    let mut config = SimConfig::new(80).with_orgs(3);
    config.rate_limit = None;
    for org in &mut config.orgs {
        org.rate_limit = None;
    }
    // The third org's client may make 2 requests at once (12/min, burst 2), the others any.
    config.orgs[2].org_rate_limit = Some(12);
    config.orgs[1].conversations = 40;
    let stores = Arc::new(OnceLock::new());
    let handles = sim::start(
        config.clone(),
        Some(factory_with_stores(
            RecordingSimConfig::default(),
            stores.clone(),
        )),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let http = digital_recovery::http::build_client(std::time::Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{e}"));
    let genesys = handles.genesys_url.clone();
    assert_eq!(handles.orgs.len(), 3);
    assert_eq!(handles.orgs[1].dataset.conversations.len(), 40);
    let line: Value =
        serde_json::from_str(&handles.address_line()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(line["orgs"][2]["clientId"], "sim-client-3");
    assert_eq!(line["orgs"][2]["tenant"], "demo-3");
    assert_eq!(line["clientId"], "sim-client-1");
    assert_eq!(line["tenant"], "demo-1");

    let mut tokens = Vec::new();
    for org in &handles.orgs {
        let (id, secret) = (&org.config.client_id, &org.config.client_secret);
        let token = bearer(&http, &genesys, id, secret).await;
        let (status, me) = get(&http, format!("{genesys}/api/v2/tokens/me"), &token).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(me["name"], id.as_str());
        assert_eq!(me["organization"]["name"], org.config.tenant.as_str());
        tokens.push(token);
    }
    // Credentials in the form body find their org too.
    let response = http
        .post(format!("{genesys}/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "sim-client-2"),
            ("client_secret", "sim-secret-2"),
        ])
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let body: Value = response.json().await.unwrap_or_else(|e| panic!("{e}"));
    let form_token = body["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"));
    let (_, me) = get(&http, format!("{genesys}/api/v2/tokens/me"), form_token).await;
    assert_eq!(me["name"], "sim-client-2");
    // Another org's secret is refused.
    let (status, body) = token(&http, &genesys, "sim-client-1", "sim-secret-2").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // A conversation is found through its own org's token only.
    let theirs = handles.orgs[1].dataset.conversations[0].id;
    let url = format!("{genesys}/api/v2/analytics/conversations/{theirs}/details");
    assert_eq!(get(&http, url.clone(), &tokens[1]).await.0, StatusCode::OK);
    assert_eq!(get(&http, url, &tokens[0]).await.0, StatusCode::NOT_FOUND);

    // The third org's limit: one more request (its burst is 2), then a 429; the first org's
    // requests are not limited by it.
    let me = format!("{genesys}/api/v2/tokens/me");
    let second_token = bearer(&http, &genesys, "sim-client-3", "sim-secret-3").await;
    assert_eq!(
        get(&http, me.clone(), &second_token).await.0,
        StatusCode::OK
    );
    assert_eq!(
        get(&http, me.clone(), &tokens[2]).await.0,
        StatusCode::TOO_MANY_REQUESTS
    );
    for _ in 0..5 {
        assert_eq!(get(&http, me.clone(), &tokens[0]).await.0, StatusCode::OK);
    }

    let rates: ClientRates = plain(&http, format!("{genesys}/sim/rates")).await;
    let accepted: Vec<(&str, u64, u32)> = rates
        .iter()
        .map(|(id, series)| {
            (
                id.as_str(),
                series.accepted_total(),
                series.org_limited.iter().sum(),
            )
        })
        .collect();
    assert_eq!(
        accepted,
        [
            ("sim-client-1", 7, 0),
            ("sim-client-2", 3, 0),
            ("sim-client-3", 2, 1)
        ]
    );
    assert_eq!(handles.client_rates(), rates);
    let stats: Value = plain(&http, format!("{genesys}/sim/genesys/stats")).await;
    assert_eq!(stats["orgRateLimited"], 1);
    assert_eq!(stats["apiRequests"], 13);
    assert_eq!(stats["orgs"]["sim-client-3"]["orgRateLimited"], 1);
    assert_eq!(stats["orgs"]["sim-client-1"]["orgRateLimited"], 0);
    assert_eq!(handles.genesys_stats().api_requests, 13);
    // The orgs' records start together (within a second boundary at most).
    let starts: Vec<i64> = rates.values().map(|series| series.start).collect();
    let spread = starts
        .iter()
        .max()
        .zip(starts.iter().min())
        .map(|(a, b)| a - b);
    assert!(spread.is_some_and(|s| s <= 1), "{starts:?}");

    // The recording side: one tenant per org, each reachable with its own credentials only.
    let das = handles.das_url.clone().unwrap_or_else(|| panic!("no DAS"));
    let capture = handles
        .capture_url
        .clone()
        .unwrap_or_else(|| panic!("no Capture"));
    let window = format!(
        "from={}&to={}",
        config.window.start,
        config.window.end + jiff::SignedDuration::from_hours(1)
    );
    let mut held = Vec::new();
    for org in &handles.orgs {
        let (id, secret, tenant) = (
            &org.config.client_id,
            &org.config.client_secret,
            &org.config.tenant,
        );
        let token = bearer(&http, &das, id, secret).await;
        let (status, page) = get(
            &http,
            format!("{das}/api/v1/tenants/{tenant}/contacts?{window}"),
            &token,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        held.push(page.to_string());
        // Another tenant's path with this tenant's token.
        let other = if tenant == "demo-1" {
            "demo-2"
        } else {
            "demo-1"
        };
        let (status, _) = get(
            &http,
            format!("{das}/api/v1/tenants/{other}/contacts?{window}"),
            &token,
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert_ne!(held[0], held[1]);
    let stores = stores.get().unwrap_or_else(|| panic!("no stores"));
    let tenants: Vec<&str> = stores.iter().map(|s| s.config().tenant.as_str()).collect();
    assert_eq!(tenants, ["demo-1", "demo-2", "demo-3"]);
    let summed: SimReport = plain(&http, format!("{capture}/sim/report")).await;
    let mut expected_missing = 0;
    for store in stores {
        let tenant = &store.config().tenant;
        let one: SimReport = plain(&http, format!("{capture}/sim/report?tenant={tenant}")).await;
        assert_eq!(one, store.report());
        expected_missing += one.expected_missing;
    }
    assert!(expected_missing > 0);
    assert_eq!(summed.expected_missing, expected_missing);
    handles.shutdown().await;
}

/// The real pipeline, through the routing by client and by tenant: two orgs recovered side by
/// side each get back exactly their own tenant's missing conversations; the third org, not
/// recovered, is untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recoveries_of_two_orgs_side_by_side_each_restore_their_own_tenant() {
    use digital_recovery::cli::demo::{demo_options, demo_recovery};
    use digital_recovery::cli::recover::run_recovery;
    use digital_recovery::http::{ClientCredentials, Secret};
    use digital_recovery::pipeline::{Credentials, PipelineOptions};

    let mut config = SimConfig::new(300).with_orgs(3);
    config.missing_rate = 0.1;
    for org in &mut config.orgs {
        org.rate_limit = None;
        org.org_rate_limit = Some(3000);
    }
    let stores = Arc::new(OnceLock::new());
    let recording = RecordingSimConfig {
        ingest_lag: std::time::Duration::from_millis(300),
        ..RecordingSimConfig::default()
    };
    let handles = sim::start(config, Some(factory_with_stores(recording, stores.clone())))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let stores = stores.get().unwrap_or_else(|| panic!("no stores")).clone();
    let options = PipelineOptions {
        retry_interval: std::time::Duration::from_millis(300),
        verify_interval: std::time::Duration::from_millis(300),
        ..demo_options()
    };
    let runs = handles.orgs[..2].iter().map(|org| {
        let mut recovery = demo_recovery(&handles, 2, false).unwrap_or_else(|e| panic!("{e}"));
        recovery.spec.tenant = org.config.tenant.clone();
        recovery.spec.genesys.requests_per_minute = None;
        let client = || ClientCredentials {
            client_id: org.config.client_id.clone(),
            client_secret: Secret::new(org.config.client_secret.clone()),
        };
        let credentials = Credentials {
            genesys: client(),
            recording_side: client(),
        };
        let options = options.clone();
        async move { run_recovery(&recovery, credentials, options).await }
    });
    for run in futures::future::join_all(runs).await {
        run.unwrap_or_else(|e| panic!("{e}"));
    }
    for store in &stores[..2] {
        let report = store.report();
        assert!(report.expected_missing > 0, "{report:?}");
        assert_eq!(report.still_missing, 0, "{report:?}");
        assert!(report.ingested >= report.expected_missing, "{report:?}");
        assert_eq!(report.conflicts, 0, "{report:?}");
    }
    let untouched = stores[2].report();
    assert_eq!(untouched.ingested, 0);
    assert_eq!(untouched.still_missing, untouched.expected_missing);
    // Each recovering org's Genesys traffic was its own client's; the third made none.
    let rates = handles.client_rates();
    assert!(rates["sim-client-1"].accepted_total() > 0);
    assert!(rates["sim-client-2"].accepted_total() > 0);
    assert_eq!(rates["sim-client-3"].accepted_total(), 0);
    handles.shutdown().await;
}
