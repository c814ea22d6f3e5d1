//! The budget against a model of the server's limiter, on paused tokio time: it uses the burst,
//! paces at the limit, backs off together with other clients of the same limit, settles under a
//! limit lower than configured, follows `set_limit`, and keeps shards sharing an org budget within
//! it in every minute.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::time::Instant;

use super::RateBudget;
use super::server_model::ServerLimiter;
use crate::api::GenesysBudget;
use crate::controller::org_throttle::OrgThrottle;

/// Round trip of one request, on average; each way takes 15 ms +- 5 ms (networks jitter, so
/// clients sharing one limit do not arrive in lock-step with its refills).
const LATENCY: Duration = Duration::from_millis(30);
/// Requests in flight at once, as the pipeline's fetchers.
const CONCURRENCY: usize = 4;

/// Seeds of the latency jitter: every task its own, every run the same.
static SEED: AtomicUsize = AtomicUsize::new(16);

/// What one client saw.
#[derive(Debug)]
struct Run {
    finished: Instant,
    throttled: usize,
}

/// Sends `requests` requests through `budget` to `server` from [`CONCURRENCY`] tasks, retrying
/// each 429 after its Retry-After as the transport does.
async fn run_client(budget: RateBudget, server: ServerLimiter, requests: usize) -> Run {
    run_client_counting(budget, server, requests, Arc::default()).await
}

/// [`run_client`], counting its 429s into `throttled` as they come (as a worker's status does).
async fn run_client_counting(
    budget: RateBudget,
    server: ServerLimiter,
    requests: usize,
    throttled: Arc<AtomicUsize>,
) -> Run {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for task in 0..CONCURRENCY {
        let mut rng =
            ChaCha8Rng::seed_from_u64((SEED.fetch_add(1, Ordering::Relaxed) + task) as u64);
        let mut one_way = move || {
            LATENCY / 2 + Duration::from_micros(rng.random_range(0..=10_000))
                - Duration::from_millis(5)
        };
        let (budget, server, next, throttled) = (
            budget.clone(),
            server.clone(),
            next.clone(),
            throttled.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < requests {
                loop {
                    budget.acquire().await;
                    let sent_at = Instant::now();
                    tokio::time::sleep(one_way()).await;
                    let verdict = server.arrive();
                    tokio::time::sleep(one_way()).await;
                    match verdict {
                        Ok(()) => break,
                        Err(wait) => {
                            throttled.fetch_add(1, Ordering::Relaxed);
                            budget.throttled(sent_at, Some(wait));
                            tokio::time::sleep(wait).await;
                        }
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    Run {
        finished: Instant::now(),
        throttled: throttled.load(Ordering::Relaxed),
    }
}

fn minutes(m: f64) -> Duration {
    Duration::from_secs_f64(m * 60.0)
}

#[tokio::test(start_paused = true)]
async fn one_client_finishes_within_5_percent_of_the_fastest_schedule_the_server_allows() {
    // Whatever burst the server grants (a second's worth, some, more than the client would
    // guess), the client uses it and then keeps pace with the limit. (A server with no burst at
    // all refuses a request that the network brought a few ms early: it has no fastest schedule
    // a client can keep to.)
    for burst in [5, 20, 50, 150] {
        let start = Instant::now();
        let server = ServerLimiter::gcra(300, burst);
        let requests = 600;
        let run = run_client(
            RateBudget::per_minute_bursting(300),
            server.clone(),
            requests,
        )
        .await;
        // The fastest schedule: the burst at once, then one request per interval.
        let fastest = Duration::from_secs(60) / 300 * (requests as u32 - burst) + LATENCY;
        let took = run.finished - start;
        assert!(
            took.as_secs_f64() <= 1.05 * fastest.as_secs_f64(),
            "burst {burst}: {took:?} for a fastest schedule of {fastest:?}"
        );
        // The server's burst was used: all of it as fast as the requests in flight go.
        let slowest_round_trip = LATENCY + Duration::from_millis(10);
        let burst_time = slowest_round_trip * (burst / CONCURRENCY as u32 + 2);
        assert!(
            server.admitted_between(start, start + burst_time) >= burst as usize,
            "burst {burst} not used"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn clients_sharing_one_limit_back_off_together() {
    // Two (then three) `recover` processes of one tenant started side by side, each configured
    // at the full limit and unaware of the others.
    for clients in [2, 3] {
        let start = Instant::now();
        let server = ServerLimiter::gcra(300, 50);
        let requests = 1500 / clients;
        let runs = futures::future::join_all((0..clients).map(|_| {
            run_client(
                RateBudget::per_minute_bursting(300),
                server.clone(),
                requests,
            )
        }))
        .await;
        let last_429 = server.refused().into_iter().max();
        assert!(
            last_429.is_some_and(|at| at < start + minutes(1.0)),
            "{clients} clients: 429s after the first minute (last at {:?})",
            last_429.map(|at| at - start)
        );
        // While all of them run (after the first minute), together they use the limit.
        let first_done = runs.iter().map(|run| run.finished).min().unwrap();
        let steady = first_done - (start + minutes(1.0));
        let used = server.admitted_between(start + minutes(1.0), first_done) as f64
            / (300.0 * steady.as_secs_f64() / 60.0);
        assert!(
            used >= 0.85,
            "{clients} clients used {used:.2} of the limit"
        );
        let throttled: usize = runs.iter().map(|run| run.throttled).sum();
        eprintln!(
            "{clients} clients: {throttled} 429s, limit used {used:.2} after the first minute"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_real_limit_30_percent_below_the_configured_one_is_learned() {
    let start = Instant::now();
    let server = ServerLimiter::gcra(210, 35);
    let run = run_client(RateBudget::per_minute_bursting(300), server.clone(), 1200).await;
    let last_429 = server.refused().into_iter().max();
    assert!(
        last_429.is_some_and(|at| at < start + minutes(1.0)),
        "429s after the first minute (last at {:?})",
        last_429.map(|at| at - start)
    );
    // Settled under the real limit, but not far under it.
    let steady = run.finished - (start + minutes(1.0));
    let used = server.admitted_between(start + minutes(1.0), run.finished) as f64
        / (210.0 * steady.as_secs_f64() / 60.0);
    assert!(
        (0.85..=1.0).contains(&used),
        "used {used:.2} of the real limit"
    );
    eprintln!("{} 429s, real limit used {used:.2}", run.throttled);
}

#[tokio::test(start_paused = true)]
async fn set_limit_takes_effect_within_seconds() {
    // A server far above the limits, so only the budget paces.
    let server = ServerLimiter::gcra(6000, 1);
    let budget = RateBudget::per_minute_bursting(300);
    let client = tokio::spawn(run_client(budget.clone(), server.clone(), 100_000));
    let rate_between = |from: Instant, seconds: u64| {
        server.admitted_between(from, from + Duration::from_secs(seconds)) as f64 * 60.0
            / seconds as f64
    };
    tokio::time::sleep(minutes(1.5)).await;
    let lowered = Instant::now();
    budget.set_limit(120);
    assert_eq!(budget.requests_per_minute(), Some(120));
    assert_eq!(budget.current_per_minute(), Some(120));
    tokio::time::sleep(minutes(1.0)).await;
    let raised = Instant::now();
    budget.set_limit(300);
    tokio::time::sleep(minutes(1.0)).await;
    client.abort();
    let before = rate_between(lowered - Duration::from_secs(30), 30);
    let after_lowering = rate_between(lowered + Duration::from_secs(3), 30);
    let after_raising = rate_between(raised + Duration::from_secs(3), 30);
    assert!((290.0..=310.0).contains(&before), "before: {before}/min");
    assert!(
        (110.0..=130.0).contains(&after_lowering),
        "3 s after lowering to 120: {after_lowering}/min"
    );
    assert!(
        (290.0..=310.0).contains(&after_raising),
        "3 s after raising to 300: {after_raising}/min"
    );
}

#[tokio::test(start_paused = true)]
async fn a_smooth_budget_allows_a_second_worth_at_once_from_the_start() {
    // 600/min: 11 at once (a second's worth and one), then one per 100 ms.
    let budget = RateBudget::per_minute(600);
    let start = Instant::now();
    for _ in 0..11 {
        budget.acquire().await;
    }
    assert_eq!(Instant::now(), start);
    for _ in 0..10 {
        budget.acquire().await;
    }
    assert_eq!(Instant::now() - start, Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn an_unlimited_budget_never_waits_and_a_pause_holds_every_clone() {
    let budget = RateBudget::unlimited();
    assert_eq!(budget.current_per_minute(), None);
    let start = Instant::now();
    for _ in 0..1000 {
        budget.acquire().await;
    }
    assert_eq!(Instant::now(), start);
    let clone = budget.clone();
    budget.pause_for(Duration::from_millis(200));
    clone.acquire().await;
    assert_eq!(Instant::now() - start, Duration::from_millis(200));
}

#[tokio::test(start_paused = true)]
async fn after_the_opening_burst_requests_are_spaced_at_the_limit() {
    // 600/min: a minute's worth (and one) at once; then, told to wait 1 s, one per 100 ms.
    let budget = RateBudget::per_minute_bursting(600);
    let start = Instant::now();
    for _ in 0..601 {
        budget.acquire().await;
    }
    assert_eq!(Instant::now(), start);
    budget.throttled(start, Some(Duration::from_secs(1)));
    for _ in 0..11 {
        budget.acquire().await;
    }
    assert_eq!(Instant::now() - start, Duration::from_secs(2));
    // That first 429 only ended the burst; the rate is still the limit.
    assert_eq!(budget.current_per_minute(), Some(600));
}

#[tokio::test(start_paused = true)]
async fn shards_sharing_an_org_budget_stay_within_it_in_every_minute() {
    // One org's budget over 4 shards, each its own token (a per-token limit of 300 granting a
    // burst of 50). Whatever the division leaves spare goes to the opening bursts; nothing more.
    use crate::api::GenesysBudget;
    for org_budget in [1200, 1300, 1000] {
        let start = Instant::now();
        let division = GenesysBudget::divide(org_budget, 300, 4);
        let org = ServerLimiter::tally();
        let runs = futures::future::join_all((0..4).map(|_| {
            let budget = RateBudget::per_minute_bursting(300);
            budget.set_limit(division.shard_requests_per_minute);
            budget.cap_opening_burst(division.opening_burst());
            // Every request its token's limit admits is counted at the org.
            run_client(budget, ServerLimiter::gcra(300, 50).counted_in(&org), 400)
        }))
        .await;
        let most = org.admitted_window_max(start, Instant::now() + LATENCY, minutes(1.0));
        // Paced at its share from its first request, a shard may send one request more than
        // its share in a minute (at both of its edges).
        assert!(
            most <= org_budget as usize + 4,
            "org budget {org_budget}: {most} requests in one minute"
        );
        let throttled: usize = runs.iter().map(|run| run.throttled).sum();
        assert_eq!(throttled, 0, "org budget {org_budget}: 429s");
        eprintln!("org budget {org_budget}: at most {most} requests in one minute");
    }
}

#[tokio::test(start_paused = true)]
async fn shards_and_their_org_throttle_settle_just_under_an_org_limit_lower_than_its_budget() {
    // 10 shards sharing an org budget of 600 (60/min each, no burst) against an org whose real
    // limit is 420 (a burst of 70), as the controller runs them: every 2 s it reads their 429
    // counts, lowers the org's budget on a rise (`OrgThrottle`) and divides what is left over the
    // shards still running. They finish at different times, so the shares grow towards the end.
    const BUDGET: u32 = 600;
    const REAL: f64 = 420.0;
    const SHARDS: usize = 10;
    let start = Instant::now();
    let org = ServerLimiter::gcra(420, 70);
    let shards: Vec<(RateBudget, Arc<AtomicUsize>)> = (0..SHARDS)
        .map(|_| {
            let budget = RateBudget::per_minute_bursting(300);
            budget.set_limit(BUDGET / SHARDS as u32);
            budget.cap_opening_burst(0);
            (budget, Arc::default())
        })
        .collect();
    let finished: Arc<Vec<AtomicUsize>> =
        Arc::new((0..SHARDS).map(|_| AtomicUsize::new(0)).collect());
    let controller = {
        let shards = shards.clone();
        let finished = finished.clone();
        tokio::spawn(async move {
            let mut throttle = OrgThrottle::new(Instant::now());
            let keys: Vec<String> = (0..SHARDS).map(|i| i.to_string()).collect();
            loop {
                tokio::time::sleep(Duration::from_secs(2)).await;
                let running: Vec<usize> = (0..SHARDS)
                    .filter(|i| finished[*i].load(Ordering::Relaxed) == 0)
                    .collect();
                let now = Instant::now();
                throttle.observe(
                    running.iter().map(|i| {
                        (
                            keys[*i].as_str(),
                            shards[*i].1.load(Ordering::Relaxed) as u64,
                        )
                    }),
                    now,
                );
                let division = GenesysBudget::divide(
                    throttle.lowered(BUDGET, now),
                    300,
                    running.len().max(1) as u32,
                );
                for i in &running {
                    shards[*i].0.set_limit(division.shard_requests_per_minute);
                }
            }
        })
    };
    let runs = futures::future::join_all(shards.iter().enumerate().map(|(i, (budget, count))| {
        let finished = finished.clone();
        let run = run_client_counting(budget.clone(), org.clone(), 150 + 20 * i, count.clone());
        async move {
            let run = run.await;
            finished[i].store(1, Ordering::Relaxed);
            run
        }
    }))
    .await;
    controller.abort();
    let refused = org.refused();
    let late = refused
        .iter()
        .filter(|at| **at >= start + minutes(1.0))
        .count();
    let mut ends: Vec<Instant> = runs.iter().map(|run| run.finished).collect();
    ends.sort();
    // While at least two shards run, their shares (up to 300 each) can spend the real limit.
    let busy_until = ends[SHARDS - 2];
    let used = org.admitted_between(start + minutes(1.0), busy_until) as f64
        / (REAL * (busy_until - (start + minutes(1.0))).as_secs_f64() / 60.0);
    let most = org.admitted_window_max(start + minutes(1.0), ends[SHARDS - 1], minutes(1.0));
    eprintln!(
        "{} 429s ({late} after the first minute); real limit used {used:.2} after the first \
         minute, at most {most} in a minute; finished at {:?}",
        refused.len(),
        ends[SHARDS - 1] - start
    );
    assert_eq!(late, 0, "429s after the first minute");
    assert!(
        most <= 420 + 1,
        "{most} requests in a minute after the first"
    );
    assert!(
        used >= 0.85,
        "real limit used {used:.2} after the first minute"
    );
}
