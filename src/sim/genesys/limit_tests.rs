//! The per-token and per-client (org) rate limits over HTTP: which 429 a request gets, its
//! shape, and what each limit is charged.

use reqwest::StatusCode as Status;
use serde_json::Value;

use super::tests::{client, serve, token};
use super::*;
use crate::sim::dataset::{Dataset, DatasetConfig};
use crate::sim::faults::Faults;

fn limited_sim(rate_limit: Option<u32>, org_rate_limit: Option<u32>) -> GenesysSim {
    let window = crate::sim::default_window(Timestamp::now());
    GenesysSim::new(
        Arc::new(Dataset::generate(&DatasetConfig::new(5, 50, window))),
        GenesysSimConfig {
            rate_limit,
            org_rate_limit,
            ..GenesysSimConfig::default()
        },
        Arc::new(Faults::none()),
    )
}

async fn get_me(http: &reqwest::Client, base: &str, bearer: &str) -> reqwest::Response {
    http.get(format!("{base}/api/v2/tokens/me"))
        .bearer_auth(bearer)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The 429's Retry-After and `inin-ratelimit-allowed`, after checking Genesys' body shape.
async fn throttle_of(response: reqwest::Response) -> (u64, u64) {
    assert_eq!(response.status(), Status::TOO_MANY_REQUESTS);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no integer {name}"))
    };
    let (retry_after, allowed) = (header("retry-after"), header("inin-ratelimit-allowed"));
    let body: Value = response.json().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(body["code"], "too.many.requests.retry.after");
    assert_eq!(
        body["message"],
        format!("Rate limit exceeded the maximum. Retry the request in [{retry_after}] seconds")
    );
    (retry_after, allowed)
}

#[tokio::test]
async fn the_org_limit_spans_tokens_and_a_refused_request_is_charged_to_neither_limit() {
    // Token: 6/min, burst 1 (one every 10 s). Org: 12/min, burst 2 (one every 5 s).
    let sim = limited_sim(Some(6), Some(12));
    let base = serve(&sim).await;
    let http = client();
    let (a, b, c) = (
        token(&http, &base).await,
        token(&http, &base).await,
        token(&http, &base).await,
    );
    assert_eq!(get_me(&http, &base, &a).await.status(), Status::OK);
    // A's second request is over its token's limit...
    let (retry_after, allowed) = throttle_of(get_me(&http, &base, &a).await).await;
    assert_eq!(allowed, 6);
    assert!((1..=10).contains(&retry_after), "{retry_after}");
    // ... and was not charged to the org: B still gets the org's second request.
    assert_eq!(get_me(&http, &base, &b).await.status(), Status::OK);
    // C has its whole token budget but the org's is spent.
    let (retry_after, allowed) = throttle_of(get_me(&http, &base, &c).await).await;
    assert_eq!(allowed, 12);
    assert!((1..=5).contains(&retry_after), "{retry_after}");

    let stats = sim.stats();
    assert_eq!((stats.rate_limited, stats.org_rate_limited), (1, 1));
    assert_eq!(stats.api_requests, 4);
    let served: Value = http
        .get(format!("{base}/sim/genesys/stats"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(served["rateLimited"], 1);
    assert_eq!(served["orgRateLimited"], 1);

    // The per-second record holds the same, under the client's id.
    let rates: ClientRates = http
        .get(format!("{base}/sim/rates"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rates.keys().collect::<Vec<_>>(), ["sim-client"]);
    let series = &rates["sim-client"];
    assert_eq!(series.accepted_total(), 2);
    assert_eq!(series.token_limited.iter().sum::<u32>(), 1);
    assert_eq!(series.org_limited.iter().sum::<u32>(), 1);
    assert_eq!(series.limited_since(series.start), 2);
    assert_eq!(series.max_accepted_in(60), 2);
    let in_process = sim.rates();
    assert_eq!(in_process.start, series.start);
    assert_eq!(in_process.accepted_total(), 2);
}

#[tokio::test]
async fn without_an_org_limit_each_token_has_its_own_budget() {
    let sim = limited_sim(Some(6), None);
    let base = serve(&sim).await;
    let http = client();
    for _ in 0..5 {
        let bearer = token(&http, &base).await;
        assert_eq!(get_me(&http, &base, &bearer).await.status(), Status::OK);
        let (_, allowed) = throttle_of(get_me(&http, &base, &bearer).await).await;
        assert_eq!(allowed, 6);
    }
    assert_eq!(sim.stats().rate_limited, 5);
    assert_eq!(sim.stats().org_rate_limited, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_hammering_together_never_get_more_than_the_org_limit_allows() {
    // Org: 600/min, burst 100, then one every 100 ms. Four tokens could take 4 x 50 at once.
    let sim = limited_sim(Some(300), Some(600));
    let base = serve(&sim).await;
    let http = client();
    let started = tokio::time::Instant::now();
    let mut workers = Vec::new();
    for _ in 0..4 {
        let bearer = token(&http, &base).await;
        let (http, base) = (http.clone(), base.clone());
        workers.push(tokio::spawn(async move {
            while started.elapsed() < Duration::from_millis(1500) {
                let status = get_me(&http, &base, &bearer).await.status();
                assert!(matches!(status, Status::OK | Status::TOO_MANY_REQUESTS));
            }
        }));
    }
    for worker in workers {
        worker.await.unwrap_or_else(|e| panic!("{e}"));
    }
    let elapsed = started.elapsed();
    let stats = sim.stats();
    let rates = sim.rates();
    let accepted = rates.accepted_total();
    // At most the burst plus one per 100 ms elapsed (and one for the partial interval).
    let allowed = 100 + (elapsed.as_millis() / 100) as u64 + 1;
    assert!(accepted <= allowed, "{accepted} > {allowed} in {elapsed:?}");
    assert!(stats.org_rate_limited > 0, "{stats:?}");
    // Every request is in exactly one column: accepted, or refused by one limit.
    assert_eq!(
        accepted + stats.rate_limited + stats.org_rate_limited,
        stats.api_requests
    );
    assert_eq!(
        rates.limited_since(rates.start),
        stats.rate_limited + stats.org_rate_limited
    );
}
