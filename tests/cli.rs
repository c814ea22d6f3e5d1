//! The command line as a person or a script uses it: the real binary, the real simulators.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_digital-recovery");

fn manifest(
    dir: &Path,
    genesys: &str,
    das: &str,
    capture: &str,
    window: &str,
    media: &str,
) -> std::path::PathBuf {
    let (start, end) = window.split_once('/').expect("window");
    let path = dir.join("recovery.yaml");
    std::fs::write(
        &path,
        format!(
            r#"apiVersion: recovery.cxops.io/v1alpha1
kind: DigitalRecovery
metadata: {{name: cli-test, namespace: tenant-demo}}
spec:
  tenant: demo
  genesys: {{apiBaseUrl: "{genesys}", credentialsSecret: genesys-oauth, requestsPerMinute: 3000}}
  recordingSide: {{dasUrl: "{das}", captureUrl: "{capture}", credentialsSecret: verint-api}}
  window: {{start: "{start}", end: "{end}"}}
  mediaTypes: {media}
  parallelism: 2
"#
        ),
    )
    .expect("write manifest");
    path
}

fn recover(path: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(["recover", "-f"])
        .arg(path)
        .args(["--output", "json"])
        .env("GENESYS_OAUTH_CLIENT_ID", "sim-client")
        .env("GENESYS_OAUTH_CLIENT_SECRET", "sim-secret")
        .env("VERINT_API_CLIENT_ID", "sim-client")
        .env("VERINT_API_CLIENT_SECRET", "sim-secret");
    cmd
}

/// What the error must name, how to make the manifest, extra environment.
type Case<'a> = (
    &'a str,
    Box<dyn Fn(&Path) -> std::path::PathBuf + 'a>,
    Vec<(&'a str, &'a str)>,
);

#[test]
fn bad_input_is_one_clear_line_exit_2_and_contacts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // Anything the command might contact is this listener; it must see no connection.
    let trap = TcpListener::bind("127.0.0.1:0").unwrap();
    trap.set_nonblocking(true).unwrap();
    let url = format!("http://{}", trap.local_addr().unwrap());
    let good_window = "2026-11-20T00:00:00Z/2026-11-21T00:00:00Z";
    let cases: Vec<Case> = vec![
        (
            "spec.window",
            Box::new(|d| {
                manifest(
                    d,
                    &url,
                    &url,
                    &url,
                    "2026-11-21T00:00:00Z/2026-11-20T00:00:00Z",
                    "[chat]",
                )
            }),
            vec![],
        ),
        (
            "spec.mediaTypes[1]",
            Box::new(|d| manifest(d, &url, &url, &url, good_window, "[chat, fax]")),
            vec![],
        ),
        (
            "VERINT_API_CLIENT_SECRET",
            Box::new(|d| manifest(d, &url, &url, &url, good_window, "[chat]")),
            vec![("VERINT_API_CLIENT_SECRET", "")],
        ),
        (
            "cannot read",
            Box::new(|d| d.join("no-such-file.yaml")),
            vec![],
        ),
    ];
    for (needle, make, env) in cases {
        let path = make(dir.path());
        let mut cmd = recover(&path);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run recover");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{needle}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
        assert!(stderr.contains(needle), "{needle} not named in: {stderr}");
        assert!(out.stdout.is_empty());
        assert!(!stderr.contains("sim-secret"));
    }
    assert!(trap.accept().is_err(), "a bad input contacted a service");
}

struct Sim {
    child: Child,
    line: serde_json::Value,
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn simulate(args: &[&str]) -> Sim {
    let mut child = Command::new(BIN)
        .arg("simulate")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start simulate");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("address line");
    let line: serde_json::Value = serde_json::from_str(&line).expect("address line is JSON");
    Sim { child, line }
}

fn sim_report(sim: &Sim) -> serde_json::Value {
    let capture = sim.line["capture"].as_str().expect("capture url");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        digital_recovery::http::install_crypto_provider();
        reqwest::get(format!("{capture}/sim/report"))
            .await
            .expect("GET /sim/report")
            .json()
            .await
            .expect("report JSON")
    })
}

#[test]
fn sigkill_mid_recovery_then_again_loses_nothing_and_duplicates_nothing() {
    let sim = simulate(&[
        "--conversations",
        "4000",
        "--missing-rate",
        "0.1",
        "--latency-ms",
        "20",
        "--rate-limit",
        "0",
        "--ingest-lag-ms",
        "300",
    ]);
    let s = |k: &str| sim.line[k].as_str().expect("url").to_string();
    let dir = tempfile::tempdir().unwrap();
    let path = manifest(
        dir.path(),
        &s("genesys"),
        &s("das"),
        &s("capture"),
        &s("window"),
        "[chat, email, social]",
    );
    let expected = sim_report(&sim)["expectedMissing"].as_u64().unwrap();
    assert!(expected > 100);

    // First run: killed (SIGKILL, no chance to clean up) once some interactions were ingested.
    let mut first = recover(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let ingested = sim_report(&sim)["ingested"].as_u64().unwrap();
        if ingested > 5 {
            break;
        }
        assert!(Instant::now() < deadline, "first run never ingested");
        assert!(
            first.try_wait().unwrap().is_none(),
            "first run ended before it was killed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    first.kill().unwrap();
    first.wait().unwrap();
    let midway = sim_report(&sim);
    assert!(
        midway["stillMissing"].as_u64().unwrap() > 0,
        "killed too late: {midway}"
    );

    // Second run finishes the job.
    let out = recover(&path).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON summary");
    for key in [
        "match",
        "outcomes",
        "apiCalls",
        "throttled",
        "throttledBy",
        "elapsedSeconds",
        "carried",
        "gaveUp",
        "resumeFrom",
    ] {
        assert!(summary.get(key).is_some(), "{key} missing in {summary}");
    }
    let truth = sim_report(&sim);
    assert_eq!(truth["stillMissing"], 0, "{truth}");
    assert_eq!(truth["duplicates"], 0, "{truth}");
    assert_eq!(truth["conflicts"], 0, "{truth}");
    assert_eq!(truth["ingested"].as_u64().unwrap(), expected, "{truth}");
}
