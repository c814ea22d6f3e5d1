//! What the benches share: the `simulate` process, running `recover`, and the two memory windows.
// Each bench uses some of these helpers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// The release binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_digital-recovery");

/// A running `simulate` and the address line it printed; killed on drop.
pub struct Sim(pub Child, pub serde_json::Value);

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `recover --output json [extra] -f manifest` with the simulators' credentials, its stderr
/// passed through: every bench runs `recover` this way.
pub fn recover_command(manifest: &std::path::Path, extra: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(["recover", "--output", "json"])
        .args(extra)
        .arg("-f")
        .arg(manifest)
        .env("SIM_CLIENT_ID", "sim-client")
        .env("SIM_CLIENT_SECRET", "sim-secret")
        .stderr(Stdio::inherit());
    command
}

/// Starts `simulate` with `args` and waits for its address line.
pub fn simulate(args: &[String]) -> Sim {
    let mut child = Command::new(BIN)
        .arg("simulate")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start simulate");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("address line");
    let value = serde_json::from_str(&line).expect("address JSON");
    Sim(child, value)
}

/// Waits for child `pid` (which the caller spawned and has not reaped) and returns whether it
/// exited 0 and its peak RSS in KiB (`ru_maxrss` from `wait4`).
pub fn reap(pid: u32) -> (bool, i64) {
    let pid = pid as i32;
    let mut status = 0;
    // SAFETY: plain FFI call waiting for our own child; rusage is a plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4");
    (
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        usage.ru_maxrss,
    )
}

/// A knob from the environment.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The memory runs: (label, conversations, window hours). The large window is as many times
/// longer as it has conversations (ten times by default), so the density stays that of a day's
/// traffic and only the span grows, as with a recovery of a longer outage.
pub fn memory_windows() -> [(&'static str, usize, i64); 2] {
    let small = env_usize("BENCH_MEMORY_SMALL", 20_000).max(1);
    let large = env_usize("BENCH_MEMORY_LARGE", 200_000);
    let hours = 24 * i64::try_from(large.div_ceil(small)).unwrap_or(1);
    [("small", small, 24), ("large", large, hours)]
}

/// The memory runs in the order they are made: each window `BENCH_MEMORY_RUNS` times (default
/// 3, at least 1), the windows taking turns, with the run's number. One run of a window moves
/// its peak by 1-2 MiB with the machine's load, as much as 10x the window adds; the page shows
/// each window's median.
pub fn memory_turns() -> Vec<(usize, (&'static str, usize, i64))> {
    let windows = memory_windows();
    (0..env_usize("BENCH_MEMORY_RUNS", 3).max(1))
        .flat_map(|run| windows.map(|window| (run, window)))
        .collect()
}

/// `simulate` arguments of a memory run: `conversations` over the `hours` ending one hour ago
/// (on a whole minute, as `simulate`'s default 24 h window), no rate limit.
pub fn memory_sim_args(conversations: usize, hours: i64) -> Vec<String> {
    let now = jiff::Timestamp::now().as_second();
    let end = now - 3600 - (now - 3600).rem_euclid(60);
    let start = end - hours * 3600;
    let at = |s: i64| {
        jiff::Timestamp::from_second(s)
            .expect("a time of this century")
            .to_string()
    };
    [
        "--conversations",
        &conversations.to_string(),
        "--window",
        &format!("{}/{}", at(start), at(end)),
        "--missing-rate",
        "0.05",
        "--rate-limit",
        "0",
        "--ingest-lag-ms",
        "200",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}
