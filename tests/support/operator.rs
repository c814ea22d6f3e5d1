//! Runs the real `digital-recovery controller` binary against a test control plane.

use std::{path::PathBuf, process::Command, time::Duration};

use super::{
    ControlPlane,
    control_plane::{ADMIN_TOKEN, KilledOnDrop, free_port, spawn_logged},
};

/// A controller process; killed on drop.
pub struct Operator {
    pub process: KilledOnDrop,
    pub metrics_url: String,
    pub identity: String,
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Operator {
    /// Starts a controller replica named `identity` and waits for its /healthz.
    pub async fn start(cp: &ControlPlane, identity: &str) -> Operator {
        let args = [
            "controller",
            "--identity",
            identity,
            "--worker-image",
            "digital-recovery:test",
            "--lease-duration-seconds",
            "4",
            "--lease-grace-seconds",
            "2",
            "--log-format",
            "json",
        ]
        .map(String::from);
        Self::start_with(cp, identity, ADMIN_TOKEN, &args, &[("RUST_LOG", "info")]).await
    }

    /// Starts a controller acting as the user behind `token`, with `args` (beginning with
    /// `controller`; `--metrics-addr` is added) and extra environment variables, and waits for
    /// its /healthz.
    pub async fn start_with(
        cp: &ControlPlane,
        identity: &str,
        token: &str,
        args: &[String],
        env: &[(&str, &str)],
    ) -> Operator {
        let dir = tempfile::tempdir().expect("tempdir");
        let kubeconfig = dir.path().join("kubeconfig");
        cp.write_kubeconfig(token, &kubeconfig).expect("kubeconfig");
        let port = free_port();
        let log = dir.path().join("controller.log");
        let process = spawn_logged(
            // DR_CONTROLLER_WRAPPER runs the controller under a profiler, e.g. `heaptrack`
            // (docs/testing.md); the RSS a bench reads is then the wrapper's.
            match std::env::var("DR_CONTROLLER_WRAPPER") {
                Ok(w) => {
                    let mut c = Command::new(w);
                    c.arg(env!("CARGO_BIN_EXE_digital-recovery"));
                    c
                }
                Err(_) => Command::new(env!("CARGO_BIN_EXE_digital-recovery")),
            }
            .args(args)
            .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
            .env("KUBECONFIG", &kubeconfig)
            .envs(env.iter().copied()),
            &log,
        )
        .expect("spawn controller");
        let metrics_url = format!("http://127.0.0.1:{port}/metrics");
        let health = format!("http://127.0.0.1:{port}/healthz");
        for _ in 0..100 {
            if reqwest::get(&health)
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Operator {
                    process,
                    metrics_url,
                    identity: identity.to_string(),
                    log,
                    _dir: dir,
                };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "controller did not serve /healthz: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// The value of an unlabelled metric (or the sum over its series).
    pub async fn metric(&self, name: &str) -> f64 {
        let text = reqwest::get(&self.metrics_url)
            .await
            .expect("scrape")
            .text()
            .await
            .expect("metrics body");
        metric_in(&text, name)
    }

    /// The scraped text.
    pub async fn scrape(&self) -> String {
        reqwest::get(&self.metrics_url)
            .await
            .expect("scrape")
            .text()
            .await
            .expect("metrics body")
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Sum of the samples of `name` (with any labels) in a Prometheus text exposition.
pub fn metric_in(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.starts_with(name) && matches!(l.as_bytes().get(name.len()), Some(b' ' | b'{'))
        })
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum()
}
