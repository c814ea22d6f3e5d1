#!/usr/bin/env python3
"""Renders docs/benchmarks.md from the results of one scripts/bench.sh run.

Usage: render_benchmarks.py RESULTS.jsonl > docs/benchmarks.md

RESULTS.jsonl holds the benches' BENCH_JSON objects plus the script's meta events (start/end
times, load average samples). Every number on the page comes from that file or from the machine
and repository at render time (CPU, cores, commit); the prose around the tables is fixed here.
Standard library only.
"""

import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone

MB_PER_MIB = 1.048576


VERIFICATION_LOAD = """
## Verification load

Measured by hand, not by `make bench`: `cargo test --test recording_side_load -- --ignored --nocapture
--test-threads 1` (tests/recording_side_load.rs), on the same data before and after light verification:
before with main's verification (main at `c9f750c` plus the simulator's request timeline and this
measurement; the same two commits now sit on later main as `d7c31c8`, where the file is
tests/verify_load.rs), after on the branch with light verification.
4,000 conversations (seed 11), 5 % missing, no partial, one shard, DAS showing an ingested interaction
10 s after Capture took it, production verification timing (`PipelineOptions::default()`). The in-process
DAS simulator notes every contacts request (range, time, contacts returned); verification's reads are
those after the last Capture PUT. 167 conversations recovered in each run.

| Genesys pace (the pool's length) | before: every 5 s over the whole slice | after: waiting ranges, 2 s doubling to 30 s |
|---|---|---|
| 300/min, the per-token default (pool about a minute) | 12 DAS requests = **0.072 per recovered conversation**, 10,830 contacts read (64.9 per conversation) | 6 requests = **0.036**, 4,917 contacts (29.4) |
| 3000/min (pool of a few seconds: nearly everything still behind DAS's lag when verification starts) | 12 requests = **0.072**, 10,583 contacts (63.4) | 11 requests = **0.066**, 9,523 contacts (57.0) |

The figures move a little from run to run with timing (an earlier run of the same "after" at 300/min:
7 requests, 5,343 contacts). When everything lands in DAS at once, after verification started, the
first rounds still read nearly the whole slice: the gain there is the early stop and one round less.
Where verification has to wait long, the schedule matters most: until the 5-minute deadline it reads
13 times instead of 60.
"""


def load(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    return rows


def pick(rows, **match):
    """Every row whose fields equal `match`."""
    return [r for r in rows if all(r.get(k) == v for k, v in match.items())]


def one(rows, **match):
    found = pick(rows, **match)
    return found[-1] if found else None


def median_run(found, key):
    """The row whose `key` is the median of `found` (the lower one of an even count), with every
    run's value, sorted, under "runs_of_<key>"; None without rows."""
    if not found:
        return None
    ordered = sorted(found, key=lambda r: r[key])
    middle = dict(ordered[(len(ordered) - 1) // 2])
    middle["runs_of_" + key] = [r[key] for r in ordered]
    return middle


def runs_text(row, key, unit):
    """ "(median of 3 runs: 29.7-31.0 MiB)", or "" for a single run."""
    values = row.get("runs_of_" + key) or []
    if len(values) < 2:
        return ""
    return f" (median of {len(values)} runs: {values[0]:.1f}-{values[-1]:.1f} {unit})"


def ratio_text(value, limit):
    """`value` to 3 decimals, or 4 where 3 would print it as `limit` though it is not."""
    text = f"{value:.3f}"
    return f"{value:.4f}" if float(text) == limit and value != limit else text


def sh(*args):
    try:
        return subprocess.run(args, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def mem_total_gib():
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return float("nan")


def fmt(value, digits=1, unit=""):
    if value is None:
        return "n/a"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and digits == 0):
        text = f"{int(value):,}"
    else:
        text = f"{value:,.{digits}f}"
    return f"{text} {unit}".strip()


def verdict(ok):
    if ok is None:
        return "—"
    return "yes" if ok else "**no**"


def load_note(rows, name):
    """Mean and max 1-minute load average sampled while bench `name` ran."""
    sample = one(rows, bench="meta", name=name, event="load")
    values = (sample or {}).get("samples") or []
    if not values:
        return None
    return sum(values) / len(values), max(values)


def window_text(r):
    hours = r.get("window_hours")
    return f"{fmt(r['generated'], 0)} conversations" + (f" over {fmt(hours, 0)} h" if hours else "")


def when(rows, name, event):
    row = one(rows, bench="meta", name=name, event=event)
    return row["time"] if row else None


def duration_min(rows, name):
    start, end = when(rows, name, "start"), when(rows, name, "end")
    if not start or not end:
        return None
    parse = lambda t: datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    return (parse(end) - parse(start)).total_seconds() / 60


def main():
    rows = load(sys.argv[1])
    out = []
    w = out.append

    matcher = one(rows, bench="matcher")
    throughput = pick(rows, bench="genesys_collect", part="throughput")
    collect_mem = one(rows, bench="genesys_collect", part="memory")
    fidelity = one(rows, bench="genesys_collect", part="rate_fidelity")
    rate = one(rows, bench="pipeline", part="rate")
    small = median_run(pick(rows, bench="pipeline", part="memory", label="small"), "peak_rss_mib")
    large = median_run(pick(rows, bench="pipeline", part="memory", label="large"), "peak_rss_mib")
    worker_small = median_run(pick(rows, bench="worker", part="run", label="small"), "peak_rss_mib")
    worker_large = median_run(pick(rows, bench="worker", part="run", label="large"), "peak_rss_mib")
    encoders = pick(rows, bench="worker", part="report_encoder")
    flag = one(rows, bench="pipeline", part="recording_flag")
    controller = one(rows, bench="controller")
    node = one(rows, bench="cluster", part="shard_memory")
    naive = one(rows, bench="fleet_naive")
    slices = one(rows, bench="fleet_slices")
    shard = one(rows, bench="fleet", part="shard")
    orgs_budget = one(rows, bench="fleet_orgs", part="budget")
    orgs_lower = one(rows, bench="fleet_orgs", part="lower")

    knobs = " ".join(f"{k}={v}" for k, v in sorted(os.environ.items()) if k.startswith("BENCH_"))
    source = one(rows, bench="meta", name="all", event="source") or {}
    commit = source.get("commit") or sh("git", "rev-parse", "--short", "HEAD")
    dirty = source.get("dirty")
    rustc = source.get("rustc") or sh("rustc", "--version")
    started, ended = when(rows, "all", "start"), when(rows, "all", "end")
    total = duration_min(rows, "all")

    w("# Benchmarks")
    w("")
    w("Generated by one command; every figure below comes from that run (nothing is pasted by hand).")
    w("Performance is checked here, never by timers in tests.")
    w("")
    w("```")
    w(f"{knobs + ' ' if knobs else ''}make bench    # = scripts/bench.sh: cargo bench of each bench, then scripts/render_benchmarks.py")
    w("```")
    w("")
    w("Knobs (environment variables, defaults in parentheses) are listed at the top of `scripts/bench.sh`;")
    w("`cargo bench --bench <name>` still runs one bench on its own and prints the same figures. The raw results")
    w("stay in `target/bench-results/` (`results.jsonl`, one log per bench); `python3 scripts/render_benchmarks.py")
    w("target/bench-results/results.jsonl > docs/benchmarks.md` re-renders this page from them without measuring.")
    w("")
    start_load = one(rows, bench="meta", name="all", event="start")
    end_load = one(rows, bench="meta", name="all", event="end")
    w(f"- run: {started or '?'} to {ended or '?'} UTC ({fmt(total, 1)} min, benches only, after the build)")
    w(f"- machine: {os.cpu_count()} cores, {cpu_model()}, {fmt(mem_total_gib(), 1)} GiB RAM, {platform.system()} {platform.release()}")
    w(f"- load average (1, 5, 15 min) at the start: {start_load['loadavg'] if start_load else '?'}; at the end: {end_load['loadavg'] if end_load else '?'}")
    w(f"- measured source: commit `{commit}`{' plus uncommitted changes' if dirty else ''}; {rustc}")
    busy = []
    for name in ("matcher", "genesys_collect", "pipeline", "fleet", "fleet_naive", "fleet_slices", "fleet_orgs", "controller", "worker", "cluster"):
        note = load_note(rows, name)
        if note:
            busy.append(f"{name} {note[0]:.1f} (max {note[1]:.1f})")
    if busy:
        w(f"- mean 1-minute load average while each bench ran: {', '.join(busy)}.")
        heaviest = max(load_note(rows, n)[0] for n in ("matcher", "genesys_collect", "pipeline", "fleet", "fleet_naive", "fleet_slices", "fleet_orgs", "controller", "worker", "cluster") if load_note(rows, n))
        cores = os.cpu_count() or 1
        if heaviest > cores * 0.75:
            w(f"  With {cores} cores, a load above about {cores * 0.75:.1f} means other work (another engineer's builds and")
            w("  tests share this machine) competed for the CPU: wall-clock figures and throughput then include waiting for a")
            w("  core; call and rate-budget figures are bound by the rate limit, not the CPU, and move little.")
        else:
            w("  The machine was otherwise mostly idle.")
    w("")

    # ------------------------------------------------------------------ summary
    w("## Summary")
    w("")
    w("| measure | figure | target | met? |")
    w("|---|---|---|---|")
    gaps = []

    def row(measure, figure, target, ok, gap=None):
        w(f"| {measure} | {figure} | {target} | {verdict(ok)} |")
        if ok is False and gap:
            gaps.append(f"- **{measure}**: {gap}")

    if rate:
        per = rate["fetch_calls_per_conversation"]
        row("fetch API calls per recovered conversation", f"**{per:.3f}** ({fmt(rate['fetch_calls'], 0)} calls / {fmt(rate['conversations_fetched'], 0)} conversations)", "<= 1.05", per <= 1.05,
            "more than one Genesys call per conversation fetched: see the pipeline log (transcoding retries or passing errors add calls).")
        budget = rate["rate_budget_used"]
        row("rate budget used (recovery at 600/min)", f"**{budget:.3f}**", ">= 0.95", budget >= 0.95,
            "the recovery left part of its per-token budget unused: stages that wait on DAS or Capture (inventory at chunk starts, verification) while no Genesys call is queued.")
        ratio = rate["elapsed_over_bound"]
        row("end-to-end recovery time vs bound (Genesys calls / rate)", f"**{ratio:.3f}** ({rate['elapsed_s']:.1f} s vs {rate['bound_s']:.1f} s)", "<= 1.05 (the budget target, inverted)", ratio <= 1.05,
            "time not spent on Genesys calls: the DAS inventory before the first collection call and waiting for the last ingested interactions to show up in DAS (verification).")
    else:
        row("fetch API calls / rate budget / e2e vs bound", "not run", "", None)
    if shard:
        ratio = shard["elapsed_over_ideal"]
        row(f"one shard vs the fastest schedule the limiter allows ({fmt(shard['generated'], 0)} conversations, {shard['rate_limit_per_min']}/min, burst included)",
            f"**{ratio:.3f}** ({shard['elapsed_s']:.1f} s vs {shard['ideal_s']:.1f} s, {fmt(shard['rate_limited'], 0)} 429s)", "<= 1.05", ratio <= 1.05,
            "time the shard spent after its last Genesys call (verification waiting for DAS to show the interactions ingested last) or before its first; the Genesys calls alone are in the fleet section.")
    else:
        row("one shard vs the fastest schedule the limiter allows", "not run", "<= 1.05", None)
    if fidelity:
        frac = fidelity["fraction_of_limit"]
        late = fidelity["throttled_after_first_minute"]
        row("Genesys client alone: request rate / limit, 429s after the first minute", f"**{frac:.3f}**, {late} 429s", ">= 0.95, 0", frac >= 0.95 and late == 0,
            "the client's rate governor and the simulator's limiter disagree; see the Genesys section.")
    if naive:
        speedup = naive["speedup"]
        rec, nai = naive["recover"], naive["naive"]
        row(f"`recover` (defaults) vs a naive sequential official-SDK script, {fmt(naive['generated'], 0)} conversations", f"**{speedup:.2f}x** faster ({rec['elapsed_s']:.1f} s vs {nai['elapsed_s']:.1f} s); recovered {fmt(rec['recovered'], 0)} vs {fmt(nai['recovered'], 0)}",
            ">= 8x, at least as many", speedup >= 8 and rec["recovered"] >= nai["recovered"],
            "see the fleet section: where `recover`'s time went, shard by shard, against its Genesys calls over the org limit.")
    if slices:
        balanced = next((r for r in slices["runs"] if r["slicing"] == "balanced"), None)
        equal = next((r for r in slices["runs"] if r["slicing"] == "equal-time"), None)
        if balanced:
            row(f"business-hours day, {slices['shards']} shards: slowest shard / ideal", f"**{balanced['slowest_over_ideal']:.2f}**" + (f" (equal-time slices: {equal['slowest_over_ideal']:.2f})" if equal else ""),
                "<= 1.15", balanced["slowest_over_ideal"] <= 1.15, "see the balanced shards section.")
    if orgs_budget:
        worst_minute = max(o["mostInAMinute"] - o["allowedInAMinute"] for o in orgs_budget["perOrg"])
        least_used = min(o["budgetUsed"] for o in orgs_budget["perOrg"])
        late = sum(o["throttledAfterFirstMinute"] for o in orgs_budget["perOrg"])
        whole = orgs_budget["overBound"]
        row(f"{orgs_budget['recoveries']} recoveries of {orgs_budget['orgs']} orgs: time / bound; 429s after the first minute; least budget used; most over the allowed minute",
            f"**{whole:.3f}**; {late}; {least_used:.2f}; {worst_minute:+d}", "<= 1.1; 0; >= 0.9; <= 0",
            whole <= 1.1 and late == 0 and least_used >= 0.9 and worst_minute <= 0,
            "see the fleet orgs section: an org's last shard alone is capped by its token's rate, and the first reconcile of an org's first recovery sees it alone for a moment.")
    if orgs_lower:
        low = orgs_lower["perOrg"][-1]
        row("one org's real limit 30 % under its budget: 429s after the first minute; most in a minute after it / real limit",
            f"**{low['throttledAfterFirstMinute']}**; {low['mostInAMinuteAfterTheFirst']} / {low['realLimit']}", "0; under", low["throttledAfterFirstMinute"] == 0 and low["mostInAMinuteAfterTheFirst"] <= low["realLimit"],
            "each shard lowers its own rate x0.7 on a 429 and climbs back to its share; its status reports the rise within a second and the controller lowers the whole org's division (x0.7, climbing back 5 % every 10 s under 0.95x, on a repeat 0.85x, of the division the 429s came at), a ceiling that can stay a little over the real limit with each shard's pacing tolerance, or lag when the controller is behind its shards' status writes; see the fleet orgs section.")
    if matcher:
        wall = matcher["median_wall_s"]
        row(f"matcher 1M x 1M, the pipeline's path ({fmt(matcher.get('chunks'), 0)} chunks): median wall time", f"**{wall:.3f} s** (on-CPU {matcher['median_cpu_s']:.3f} s)", "< 1 s", wall < 1.0,
            "the machine was loaded (compare on-CPU time) or the matcher regressed; see the matcher section.")
        peak = matcher["peak_rss_mib"]
        row("matcher 1M x 1M: peak RSS", f"**{peak:.1f} MiB** ({peak * MB_PER_MIB:.0f} MB)", "< 200 MB", peak * MB_PER_MIB < 200,
            "a chunk's index grew beyond its 24-byte slots plus 16 bytes per session id.")
    if small and large:
        s_mib, l_mib = small["peak_rss_mib"], large["peak_rss_mib"]
        growth = l_mib / s_mib
        row(f"recover peak RSS, 1x window ({window_text(small)})", f"**{s_mib:.1f} MiB**{runs_text(small, 'peak_rss_mib', 'MiB')}", "", None)
        row(f"recover peak RSS, 10x window ({window_text(large)})", f"**{l_mib:.1f} MiB** ({l_mib * MB_PER_MIB:.0f} MB){runs_text(large, 'peak_rss_mib', 'MiB')}", "< 150 MB", l_mib * MB_PER_MIB < 150,
            "see the pipeline section for what grows with the window.")
        medians = " (medians)" if len(small.get("runs_of_peak_rss_mib", [])) > 1 else ""
        row(f"recover peak RSS, 10x / 1x{medians}", f"**{ratio_text(growth, 1.10)}**", "flat: <= 1.10", growth <= 1.10,
            f"{l_mib - s_mib:.1f} MiB more at 10x: ten times as many ingested conversations wait for verification (64 bytes each since `SentSessions`, in a list that grows by doubling), and the hyper connection buffers of more Capture calls; see the pipeline section.")
    else:
        row("recover peak RSS at 1x and 10x window", "not run", "< 150 MB, flat", None)
    if worker_small and worker_large:
        s_mib, l_mib = worker_small["peak_rss_mib"], worker_large["peak_rss_mib"]
        growth = l_mib / s_mib
        per = encoders[-1]["bytes_per_record"] if encoders else None
        row(f"worker peak RSS, 1x window ({window_text(worker_small)})", f"**{s_mib:.1f} MiB**{runs_text(worker_small, 'peak_rss_mib', 'MiB')}", "", None)
        row(f"worker peak RSS, 10x window ({window_text(worker_large)})", f"**{l_mib:.1f} MiB** ({l_mib * MB_PER_MIB:.0f} MB){runs_text(worker_large, 'peak_rss_mib', 'MiB')}", "< 150 MB", l_mib * MB_PER_MIB < 150,
            "see the worker section.")
        more_records = (worker_large.get("outcome_records") or 0) - (worker_small.get("outcome_records") or 0)
        gap = f"{l_mib - s_mib:.1f} MiB more at 10x"
        if small and large:
            gap += f", where `recover` on the same data grows {large['peak_rss_mib'] - small['peak_rss_mib']:.1f} MiB (verification)"
        gap += (". Not the report: it is streamed (encoded as records come, written a ConfigMap part at a time), so"
                " it holds at most one part")
        if per is not None:
            gap += f" (the encoder bench: {per:.0f} B per record)"
        gap += (f", and {fmt(more_records, 0)} more records fit in the same single part here (whose compressed bytes"
                " do grow, up to the part's 900 KiB). The journal keeps only the set of ids written: each write adds"
                " its own part to the ConfigMap, answered with metadata only.")
        medians = " (medians)" if len(worker_small.get("runs_of_peak_rss_mib", [])) > 1 else ""
        row(f"worker peak RSS, 10x / 1x{medians}", f"**{ratio_text(growth, 1.10)}** ({fmt(worker_small.get('outcome_records'), 0)} and {fmt(worker_large.get('outcome_records'), 0)} outcome records)", "flat: <= 1.10", growth <= 1.10, gap)
    else:
        row("worker peak RSS at 1x and 10x window", "not run", "< 150 MB, flat", None)
    if controller:
        idle = controller["idle_rss_mib"]
        row("controller idle RSS (leader, no recoveries)", f"**{idle:.1f} MiB**", "< 40 MB", idle * MB_PER_MIB < 40,
            "the controller's baseline (runtime, kube client, TLS) grew.")
        after = controller["after_rss_mib"]
        n = controller["recoveries"]
        row(f"controller RSS idle with {fmt(n, 0)} recoveries reconciled (peak {controller['peak_rss_mib']:.1f} MiB)", f"**{after:.1f} MiB**", "< 30 MiB (fleet scale)", after < 30,
            f"the reflector cache holds every DigitalRecovery ({fmt(n, 0)}, trimmed of managedFields and kubectl's last-applied copy; Jobs are watched as metadata only and not cached); Events are created without kube's Recorder cache; about {idle:.0f} MiB is the baseline, most of it the binary's code pages (docs/testing.md, profiling the controller).")
        row(f"controller: {fmt(n, 0)} recoveries reconciled (Job + status)", f"**{controller['recoveries_per_s']:.1f} recoveries/s** ({controller['reconciled_s']:.1f} s, {fmt(controller['reconcile_failures'], 0)} failures)", "", None)
    else:
        row("controller RSS", "not run", "< 40 MB", None)
    if node:
        frac = node["fraction_of_limit"]
        row(f"worker on a real node, one shard of {fmt(node['conversations'], 0)} conversations: peak of its container's memory cgroup",
            f"**{node['peak_mib']:.1f} MiB** of the default {node['limit']} limit ({frac:.0%})", "under half the limit", frac < 0.5,
            "the worker's memory cgroup (page cache included) came close to the chart's default limit; see the real-node section.")
    else:
        row("worker on a real node (200,000-conversation shard, cgroup peak)", "not in this run (the `cluster` bench needs root and a real node; add it with BENCH_ONLY)", "under half the default limit", None)
    w("")
    if gaps:
        w("Targets not met, the gap and its cause:")
        w("")
        out.extend(gaps)
        w("")
    else:
        w("Every target with a figure above is met.")
        w("")

    # ------------------------------------------------------------------ pipeline
    if rate or small or large or flag:
        w("## Pipeline")
        w("")
        w("`benches/pipeline.rs` starts the release binary's `simulate` and `recover` as separate processes, so the")
        w("recovery's memory is its own (`ru_maxrss` from `wait4`).")
        w("")
    if rate:
        m = rate["match"]
        o = rate["outcomes"]
        w(f"### API calls and rate budget: `--rate-limit 600 --latency-ms 30`, `requestsPerMinute: 600`, one shard")
        w("")
        w(f"{fmt(rate['generated'], 0)} conversations generated; {fmt(m.get('genesys'), 0)} completed text conversations in the window")
        w(f"({fmt(m.get('missing'), 0)} missing, {fmt(m.get('partial'), 0)} partial). Fetch calls = Genesys calls of the recovery minus those")
        w("of a DryRun of the same data (the DryRun makes exactly the collection calls: the chunk estimate, the pages and")
        w("one token).")
        w("")
        w("| measure | figure | target |")
        w("|---|---|---|")
        w(f"| Genesys calls, DryRun (collect only) | {fmt(rate['dry_run_genesys_calls'], 0)} | |")
        w(f"| Genesys calls, recovery | {fmt(rate['genesys_calls'], 0)} | |")
        w(f"| conversations fetched (recovered {fmt(o.get('recovered'), 0)} + already present {fmt(o.get('alreadyPresent'), 0)} + failed {fmt(o.get('failed'), 0)}, e.g. archived/deleted) | {fmt(rate['conversations_fetched'], 0)} | |")
        w(f"| fetch calls per fetched conversation | **{rate['fetch_calls_per_conversation']:.3f}** | <= 1.05 |")
        w(f"| rate budget used over the whole run (calls / (elapsed x 600/min)) | **{rate['rate_budget_used']:.3f}** | >= 0.95 |")
        w(f"| elapsed vs theoretical bound (calls / rate) | {rate['elapsed_s']:.1f} s vs {rate['bound_s']:.1f} s = **{rate['elapsed_over_bound']:.3f}** | |")
        w(f"| 429s | {fmt(rate['throttled'], 0)} | |")
        w("")
        w("One `GET /api/v2/conversations/{id}/recordings` carries every recording of the conversation with its")
        w("transcript, so the pipeline never calls `recordingmetadata` separately. Collection overlaps fetching (missing")
        w("conversations are queued as the matcher finds them), which is why the whole run stays close to the bound; what")
        w("remains above it is the DAS inventory before the first Genesys page and the verification wait at the end.")
        w("")
    if flag:
        asked, trusted = flag["asked"], flag["trusted"]
        a_sim, t_sim = asked.get("sim") or {}, trusted.get("sim") or {}
        a_gen = asked.get("genesys_sim") or {}
        w(f"### Whether a text recording exists: asked of the recordings API vs. the analytics flag ({fmt(flag['generated'], 0)} conversations, `demo`)")
        w("")
        w("Genesys documents the analytics `recording` flag for audio only, so the pipeline no longer skips a text")
        w("conversation for lacking it: every conversation the recording side lacks is fetched, and one whose")
        w("recordings hold no text ends `notRecorded`. Same dataset (seed 1) twice: under the documented contract (no")
        w("flag on text, `trustRecordingFlag: false`, the default) and as before (flag served on recorded text sessions")
        w("and trusted).")
        w("")
        w("| measure | asked (default) | flag trusted (old) |")
        w("|---|---|---|")
        w(f"| Genesys calls | {fmt(asked.get('genesys_calls'), 0)} | {fmt(trusted.get('genesys_calls'), 0)} |")
        w(f"| withheld with a text recording: recovered (`ingested`) / expected | {fmt(a_sim.get('ingested'), 0)} / {fmt(a_sim.get('expectedMissing'), 0)} | {fmt(t_sim.get('ingested'), 0)} / {fmt(t_sim.get('expectedMissing'), 0)} |")
        w(f"| still missing after the run | **{fmt(a_sim.get('stillMissing'), 0)}** | {fmt(t_sim.get('stillMissing'), 0)} |")
        w(f"| `notRecorded` outcomes / withheld conversations never recorded | **{fmt((asked.get('outcomes') or {}).get('notRecorded'), 0)}** / {fmt(a_sim.get('expectedNotRecorded'), 0)} | {fmt((trusted.get('outcomes') or {}).get('notRecorded'), 0)} (skipped unasked) |")
        w(f"| recordings calls for never-recorded conversations / distinct ones | {fmt(a_gen.get('unrecordedRecordingsCalls'), 0)} / {fmt(a_gen.get('unrecordedConversationsFetched'), 0)} | {fmt((trusted.get('genesys_sim') or {}).get('unrecordedRecordingsCalls'), 0)} |")
        w(f"| extra Genesys calls against the old behaviour | **{fmt(flag.get('extra_genesys_calls'), 0)}** | |")
        w("")
        w("The extra calls are exactly one `GET .../recordings` per withheld conversation Genesys never recorded. Against")
        w("an org that does not set the flag on text (the documented contract), trusting it would skip every text")
        w("conversation (`tests/genesys_variants.rs::trusting_the_recording_flag_is_safe_only_where_genesys_sets_it`).")
        w("")
    if small and large:
        w("### Peak memory as the window grows 10x (no rate limit)")
        w("")
        w("The 10x window is ten times the time span at the same density (a day's traffic per day), as a recovery of a")
        w("longer outage would be; `simulate --window` sets the span.")
        w("")
        w("| window | recover peak RSS | elapsed | recovered | Genesys calls | DAS calls |")
        w("|---|---|---|---|---|---|")
        for r in (small, large):
            calls = r.get("api_calls") or {}
            w(f"| {window_text(r)} | **{r['peak_rss_mib']:.1f} MiB**{runs_text(r, 'peak_rss_mib', 'MiB')} | {fmt(r.get('elapsed_s'), 1)} s | {fmt((r.get('outcomes') or {}).get('recovered'), 0)} | {fmt(calls.get('genesys'), 0)} | {fmt(calls.get('das'), 0)} |")
        w("")
        w(f"10x the window gave {large['peak_rss_mib'] / small['peak_rss_mib']:.2f}x the peak.")
        if len(small.get("runs_of_peak_rss_mib", [])) > 1:
            w(" ".join(["Each window ran several times, the windows taking turns, each run against a fresh simulator",
                        "(`BENCH_MEMORY_RUNS`): one run moves by 1-2 MiB with the machine's load, as much as 10x the",
                        "window adds. The peaks shown are the medians; the other figures are the median run's."]))
        w("")
        w("How memory is kept (nearly) independent of the window (profiled with heaptrack and `/proc/<pid>/status`")
        w("sampling at 20,000 and 200,000 conversations):")
        w("")
        w("- **Time chunks.** A shard matches its slice as consecutive time chunks of about 25,000 conversations")
        w("  each (`PipelineOptions::chunk_conversations`; Genesys' `totalHits` for the slice, one call, sizes them).")
        w("  Each chunk reads DAS for its range widened by the tolerance into its own contact index, then collects and")
        w("  classifies its conversations; the recovery pool runs across chunks. Contacts within a tolerance of a chunk")
        w("  edge are carried to the next chunk (unclaimed ones near the end may still be claimed by a conversation just")
        w("  after the edge; claimed ones just after the end must not become the next chunk's extras), and the overlap")
        w("  is counted once, so a chunked match gives exactly the whole-slice result (property test")
        w("  `chunks_match_exactly_like_the_whole_slice`; `tests/pipeline.rs` runs 200-conversation chunks and checks")
        w("  nothing is missed or sent twice). Before, the index of the whole slice grew with it (a table of 24-byte")
        w("  slots at most half full plus 16 bytes per session id, and twice the table during a resize).")
        w("- **Genesys pages as JSON text.** The client held each page as `serde_json::Value` trees; a 1,000-conversation")
        w("  job results page (the jobs path serves slices over 10,000 hits, so only big windows) was several times")
        w("  its body's size, the largest peak consumer at 200,000 conversations. Pages are now kept as each")
        w("  conversation's JSON text (borrowed from the body for job pages) and parsed one at a time as emitted; the")
        w("  ids a job returned are kept as 16-byte UUIDs.")
        w("- **Verification page by page.** Ingested conversations wait in a map by id and each DAS page is checked")
        w("  against it, instead of first collecting what DAS shows for all of them.")
        w("- **glibc malloc settings** (`src/main.rs`, `mallopt` at startup: fixed 64 KiB mmap threshold, 64 KiB trim")
        w("  threshold, two arenas). With glibc's defaults the mmap threshold climbs to the largest block freed, after")
        w("  which the big transient buffers come from the heap and fragment it: the 200,000-conversation run's RSS")
        w("  was more than twice its heap peak. The fixed threshold is what matters; the other two add little.")
        w("")
        w("What still grows with the window: the conversations ingested and awaiting verification, ten times as many at")
        w("10x. heaptrack of `recover` at 10x (12,266 ingested): the list held 1.05 MB and each session id's `String`")
        w("0.53 MB more, of a 12.66 MB heap peak; sessions are now kept as 64-bit digests, inline for the usual one")
        w("(`SentSessions`, 64 bytes a conversation, no allocation), and verification waits on the sorted list itself")
        w("instead of a hash map built from it (`verify/waiting.rs`): heap peak 12.01 MB. At the same density every chunk has about the")
        w("same number of conversations, so the chunk-sized structures (contact index, Genesys pages; both windows'")
        w("chunks have over 10,000 hits and use the jobs API, whose 1,000-conversation results page is held whole while")
        w("its conversations are emitted) do not grow with the span. Verifying chunk by chunk would bound the rest.")
        w("")
        w("Earlier definitions, for reference (not from this run): the 10x run used to put ten times the conversations")
        w("into the same 24 h (ten times denser, so bigger chunks and pages rather than a longer window): 22.2 MiB at")
        w("20,000 and 27.3 MiB at 200,000 conversations (1.23x) on `3e57415`; before the chunking and page changes above,")
        w("34.2 and 100.0 MiB (2.9x).")
        w("")

    # ------------------------------------------------------------------ fleet: recover vs naive
    if naive:
        rec, nai = naive["recover"], naive["naive"]
        r_sim, n_sim = rec.get("sim") or {}, nai.get("sim") or {}
        org = naive["org_rate_per_min"]
        w(f"## Fleet: `recover` with default settings vs a naive official-SDK script")
        w("")
        w("`benches/fleet_naive.rs` starts `simulate` twice with the same seed (`--conversations")
        w(f"{naive['generated']} --missing-rate {naive['missing_rate']} --rate-limit {naive['token_rate_per_min']} --org-rate-limit {org} --latency-ms {naive['latency_ms']}`),")
        w("a fresh simulator for each contender. On the first, `benches/naive_sdk.py` does what one would write in an")
        w("afternoon with the official Python SDK (`purecloudplatformclientv2`): one token, sequential, pages the detail")
        w("query (100 per page, splitting past the 100,000-result paging cap), lists DAS for the window, and for each")
        w("conversation Genesys has and DAS lacks gets its recordings and PUTs it to Capture, leaving 429s to the SDK's")
        w("urllib3 Retry (it sleeps Retry-After). On the second, the release `recover` runs a manifest that sets neither")
        w("`parallelism` nor a request rate (`parallelism: auto`, the default org budget and per-token rate). Elapsed")
        w("times are each program's own; 429s and requests are the simulator's counts, `ingested` and `still missing`")
        w("its ground truth after the run.")
        w("")
        w("| contender | elapsed | recovered | Genesys calls (requests at the simulator) | 429s | simulator: ingested / still missing of expected |")
        w("|---|---|---|---|---|---|")
        w(f"| naive SDK script (1 token) | {nai['elapsed_s']:.1f} s | {fmt(nai['recovered'], 0)} | {fmt(nai['genesys_calls'], 0)} ({fmt(nai['sim_requests'], 0)}) | {fmt(nai['throttled'], 0)} | {fmt(n_sim.get('ingested'), 0)} / {fmt(n_sim.get('stillMissing'), 0)} of {fmt(n_sim.get('expectedMissing'), 0)} |")
        w(f"| `recover`, defaults ({rec['shards']} shards) | {rec['elapsed_s']:.1f} s | {fmt(rec['recovered'], 0)} | {fmt(rec['genesys_calls'], 0)} ({fmt(rec['sim_requests'], 0)}) | {fmt(rec['throttled'], 0)} | {fmt(r_sim.get('ingested'), 0)} / {fmt(r_sim.get('stillMissing'), 0)} of {fmt(r_sim.get('expectedMissing'), 0)} |")
        w("")
        bound = (rec["sim_requests"] or 0) / org * 60
        shard_s = rec.get("shard_elapsed_s") or []
        budget = rec.get("org_budget_per_min")
        w(f"Speed-up: **{naive['speedup']:.2f}x** (target >= 8x; {org // naive['token_rate_per_min']}x is the org limit over one token's). `recover`'s")
        w(f"shards ended between {min(shard_s, default=float('nan')):.1f} and {max(shard_s, default=float('nan')):.1f} s; its {fmt(rec['sim_requests'], 0)} requests would take {bound:.1f} s at the org limit")
        if budget:
            w(f"and {rec['budget_bound_s']:.1f} s at the default org budget ({fmt(budget, 0)}/min, which `recover` keeps to), so it used")
            w(f"{rec['budget_bound_s'] / rec['elapsed_s']:.2f} of that budget over the run. The naive script made {fmt(nai['sim_requests'], 0)} requests,")
            w(f"429s included; the default budget over one token's rate caps the speed-up at {budget / naive['token_rate_per_min']:.0f}x for the same number of calls.")
        else:
            w(".")
        w("The naive script recovers only conversations DAS lacks entirely: a partial one (a contact lacking a later")
        w("session) looks present to it, hence its higher `still missing`.")
        if nai.get("recovered") and rec.get("recovered") and nai.get("sim_requests") and rec.get("sim_requests"):
            per_conv = (nai["elapsed_s"] / nai["recovered"]) / (rec["elapsed_s"] / rec["recovered"])
            calls = rec["sim_requests"] / nai["sim_requests"]
            w(f"Per conversation recovered, `recover` is **{per_conv:.2f}x** as fast. It makes {calls:.2f}x the naive script's requests (the")
            w("partial conversations' recordings, their unrecorded ones among them, the slice counts, each shard's own paging), so at")
            w(f"the default budget its ceiling on this data is about {(budget or org) / naive['token_rate_per_min'] / calls:.1f}x, not {(budget or org) // naive['token_rate_per_min']}x.")
        w("")

    # ------------------------------------------------------------------ fleet: balanced shards
    if slices:
        w("## Fleet: balanced shards on a business-hours day")
        w("")
        w(f"`benches/fleet_slices.rs` runs the release `recover` with {slices['shards']} shards over `simulate --conversations {slices['generated']}")
        w(f"--profile business-hours --missing-rate 0.05 --rate-limit {slices['token_rate_per_min']} --latency-ms {slices['latency_ms']}` (starts ten times as")
        w("dense from 08:00 to 18:00 UTC), once with the slices balanced by Genesys' conversation counts (the default)")
        w("and once cut into equal lengths of time, each on a fresh simulator of the same seed. The ideal is the run's")
        w(f"Genesys calls over the shards' total rate ({slices['shards']} x {slices['token_rate_per_min']}/min): the time a perfectly even split would take.")
        w("")
        w("| slicing | Genesys calls | ideal | shards ended between | slowest / ideal | conversations per shard | Genesys calls per shard | 429s |")
        w("|---|---|---|---|---|---|---|---|")
        for r in slices["runs"]:
            calls = ", ".join(fmt(c, 0) for c in r.get("calls_per_shard", [])) or "-"
            w(f"| {r['slicing']} | {fmt(r['genesys_calls'], 0)} | {r['ideal_s']:.1f} s | {r['fastest_shard_s']:.1f} to {r['slowest_shard_s']:.1f} s | **{r['slowest_over_ideal']:.2f}** | {', '.join(fmt(c, 0) for c in r['conversations_per_shard'])} | {calls} | {fmt(r['throttled'], 0)} |")
        w("")
        w("Target: slowest shard <= 1.15x the ideal. Slices hold equal shares of the conversations, but a shard's calls")
        w("follow the missing conversations it finds, and a shard cannot spend more than its token's rate on them. With")
        w("batch fetch most of a shard's calls are the recordings GETs of its missing conversations that have no recording")
        w("(a batch does not settle those), so its calls vary with where the missing ones fall, which no count of the")
        w("window foresees. Measured at 60,000 conversations (`0f3644c`): the slowest 1.25, because")
        w("business-hours slices of 7,100 conversations sit either side of `jobs_threshold` (10,000 hits, neighbours")
        w("included): five shards read them with an async job (1,000 a page), three page them 100 at a time, for")
        w("253 to 367 calls per shard. Sharing time pieces between shards does not pay on this data (tried by hand at")
        w("`0e8697f`: each balanced slice cut into six pieces of halving size, a shard done with its own taking the last")
        w("piece of the slice with most left): slowest / ideal 1.09, but 2,625 Genesys calls against 1,900 and the slowest")
        w("shard at 71.7 s against 53.1 s, because a query returns every conversation alive during its interval, not only")
        w("those started in it, so each piece paged about 17 more pages of long-lived conversations (1,265 query calls")
        w("against 598). Sharing has to move missing conversations, not time.")
        w("")
        w('Since `2cd9393`/`23b23e6` `recover` runs one recovery queue for all its shards (`pipeline/shared_queue.rs`): any')
        w("shard's pool recovers any shard's missing conversations, and the ones a batch download did not answer (each a")
        w('Genesys call of its own) are fetched one by one by whichever pool is free; each conversation is still counted and')
        w('verified by its own shard. Measured by')
        w('hand, `cargo bench --bench fleet_slices`, one run each on a quiet machine: before (`5fda3c4`) balanced 1.17')
        w('(57.0 s against an ideal of 48.8 s; shards ended 44.8 to 57.0 s; calls per shard 213 to 274), equal-time 2.08;')
        w("with the queue shared but each batch's leftovers kept by the pool that asked (`2cd9393`) balanced still 1.17,")
        w('since a pool holding a batch of ~60 conversations with ~27 never recorded spent 5 s of its token on them after')
        w('the others were done; with leftovers shared (`23b23e6`) balanced **1.05** (49.4 s against 46.9 s, calls per')
        w('shard 232 to 238, every shard ended within 0.03 s of the others) and equal-time 1.17 (44.2 s). With sharing,')
        w('equal-time slices end sooner in absolute time than balanced ones, since counting the window costs about 360')
        w("calls; the cluster's workers do not share yet, so balanced slicing stays the default. What is left over the")
        w("ideal is fixed cost: the OAuth tokens, the first verification pause (2 s) and the last batch's polls.")
        w("")

    # ------------------------------------------------------------------ fleet: orgs sharing budgets
    if orgs_budget or orgs_lower:
        first = orgs_budget or orgs_lower
        w("## Fleet: 40 recoveries of 8 orgs, one budget per org")
        w("")
        w(f"`benches/fleet_orgs.rs` applies {first['recoveries']} recoveries for {first['orgs']} orgs at once to the real controller binary on a real")
        w("kube-apiserver, run by the job stand-in's real (release) workers, against one simulator serving every org with a")
        w(f"per-token limit of {first['tokenLimit']}/min and a per-org limit of {first['orgLimit']}/min (per OAuth client across its tokens), {first['latencyMs']} ms latency.")
        w(f"Each org has `orgRequestsPerMinute: {first['orgBudget']}` (80 % of its limit); its 5 recoveries cover 5 parts of its day with")
        w(f"`parallelism: auto` ({first['shardsPerRecovery']} shards each) and run together (no per-tenant cap), so the controller divides the org's budget")
        w("over 10 running shards and re-divides it as they finish. Figures are the simulator's own per-second counts of each")
        w("org's client. Allowed in a minute: the budget plus the pacing's tolerance (a second's worth, and one request per")
        w("shard; the counts are whole seconds). Budget used: the org's calls over its budget for the time from its first")
        w("to its last call. The bound: the most any org's calls take at its budget.")
        w("")
        for label, run in (("All orgs at their configured budget", orgs_budget), ("The last org's real limit 30 % below its budget", orgs_lower)):
            if not run:
                continue
            w(f"{label} (part `{run['part']}`): **{run['elapsedSeconds']:.1f} s** for a bound of {run['boundSeconds']:.1f} s (**{run['overBound']:.2f}x**"
              f"{', the bound over the other orgs' if run['part'] == 'lower' else ''}); not succeeded: {len(run['notSucceeded'])}.")
            w("")
            w("| org | conversations | Genesys calls | most in a minute (allowed) | most in a minute after the first | 429s (after the first minute) | budget used | recovered | still missing | twice |")
            w("|---|---|---|---|---|---|---|---|---|---|")
            for o in run["perOrg"]:
                limit = f" (real limit {o['realLimit']})" if o["realLimit"] and o["realLimit"] < o["configuredBudget"] else ""
                w(f"| {o['org']}{limit} | {fmt(o['conversations'], 0)} | {fmt(o['calls'], 0)} | {fmt(o['mostInAMinute'], 0)} ({fmt(o['allowedInAMinute'], 0)}) | {fmt(o['mostInAMinuteAfterTheFirst'], 0)} | {fmt(o['throttled'], 0)} ({fmt(o['throttledAfterFirstMinute'], 0)}) | {o['budgetUsed']:.2f} | {fmt(o['recovered'], 0)} | {fmt(o['stillMissing'], 0)} | {fmt(o['duplicates'], 0)} |")
            w("")
        w("Targets: no org above its budget; no 429 after the first minute; while an org has work, >= 0.9 of its budget")
        w("used; total time within 1.1x of the bound; with one org's real limit 30 % lower, its 429s in the first minute")
        w("only and its rate then under the real limit. For that org, budget used is against its real limit.")
        w("")
        w("The apiserver is part of this bench's loop: 429 counts reach the controller and new divisions reach the workers")
        w("through it. Measured by hand on this 2-core machine (the apiserver's own `/metrics`, part `budget`, 80 s in) while")
        w("the workers journaled every conversation in its own write: 5,446 ConfigMap applies against 1,431 status applies;")
        w("the apiserver used 1.1 to 1.5 cores, a status apply took 3.2 s on average, and divisions and 429 counts arrived")
        w("10 to 50 s late (that run: least budget used 0.82, 1.15x the bound; `f8671a2`'s part `lower` here: least 0.69,")
        w("1.86x, 12 429s after the first minute). Journaling a batch of conversations in one write (`b1702c1`): 265")
        w("ConfigMap applies against 1,744 status applies")
        w("in the same 80 s, an update 0.38 s on average, and the figures above. Status applies (each shard's progress every")
        w("5 s, its stage and 429 counts at once, the controller's folded status) are then the apiserver's main work.")
        w("")
        w("The controller now rewrites a running recovery's totals alone at most every 10 s (`controller/totals_pace.rs`;")
        w("a phase, condition, shard count, division or resume point still at once). Part `budget` by hand, side by side on")
        w("a quiet machine, `2c2d640` (before) and `64e0d1e` (after), one run each (single figures, not medians), by")
        w("`BENCH_FLEET_ORGS_PARTS=budget cargo bench --bench fleet_orgs` with the apiserver's `/metrics` read at the end:")
        w("")
        w("| | status applies | their apiserver time | etcd updates of recoveries | least budget used | total vs bound |")
        w("|---|---:|---:|---:|---:|---:|")
        w("| before (115.5 s run) | 2,824 | 2,523 s (0.89 s each) | 5,310 | 0.84 | 1.084x |")
        w("| after (112.7 s run) | 2,051 | 175 s (0.085 s each) | 2,205 | 0.96 | 1.058x |")
        w("")
        w("Fewer applies meant fewer conflicting writers on the same object: the apiserver retries a server-side apply")
        w("that lost a race, so the etcd updates (more than one per apply before) fell by more than the applies.")
        w("")

    # ------------------------------------------------------------------ batch fetch (by hand)
    if naive or shard:
        w("## Fleet: where `recover`'s Genesys requests went, before and after batch fetch (measured by hand)")
        w("")
        w("Read from the simulator's `/sim/requests` on the `fleet_naive` data (20,000 conversations, 1,277 to recover,")
        w("547 never recorded, 28 archived or deleted), at `20efafb` and its parent. Batch fetch: the recovery pool asks")
        w("for the recordings of up to 100 queued conversations in one Genesys batch download (`POST")
        w("/api/v2/recording/batchrequests`, a poll or two), the files downloaded from their pre-signed URLs outside the")
        w("API's rate limit.")
        w("")
        w("| route | one GET per conversation | batch fetch |")
        w("|---|---|---|")
        w("| `GET /api/v2/conversations/{id}/recordings` | 1,852 | 576 (the 547 never recorded, the 28 archived or deleted, 1 more) |")
        w("| `POST /api/v2/analytics/conversations/details/query` | 318 | 318 |")
        w("| `POST /api/v2/recording/batchrequests` and its polls | 0 | 34 + 34 |")
        w("| total at the simulator | 2,170 | 962 |")
        w("")
        w("At the default org budget (2,400/min) one GET per conversation could not beat the naive script 8x on this data")
        w("(2,170 calls take 54 s at least). A conversation a batch does not answer in full (no recording, archived,")
        w("deleted, an error, a file that is not the text recording it named) still gets its own GET, which alone decides")
        w("`notRecorded`: what a batch answers for a conversation with no recording is not documented. With the calls")
        w("halved, the fleet benches' datasets were enlarged (one shard 4,000 -> 12,000 conversations, business hours")
        w("20,000 -> 40,000, the largest org 6,000 -> 20,000) so that their runs are bound by the rate limits again rather")
        w("than by what does not depend on them (DAS showing an ingested conversation some time later, which")
        w("verification waits out after the last one is sent; a batch gathering for up to 1 s). At the old sizes, with")
        w("batch fetch: one shard 1.160, business hours 1.19, 8 orgs 1.255x the bound with 0.78 least budget used.")
        w("")

    # ------------------------------------------------------------------ worker on a real node
    if node:
        w("## Worker on a real node")
        w("")
        w("`make bench`'s cluster section (`tests/cluster_tier/bench.rs`, run as root) brings up the real single-node")
        w("cluster of the cluster tier, installs the chart with an image of the **release** binary, and applies one")
        w(f"recovery with one shard over {fmt(node['conversations'], 0)} simulated conversations in {node['span_hours']} h (the worker bench's 10x")
        w("density) under the chart's default worker resources. While the worker runs, the bench reads the worker")
        w(f"container's memory cgroup on the host every 200 ms (`{node['cgroup_file']}`: what the kernel holds against the")
        w("limit, page cache included); the recovery is then checked against the simulators' ground truth.")
        w("")
        w("| shard | peak (container cgroup) | limit | of the limit | phase | ingested (still missing, twice) | samples | elapsed |")
        w("|---|---|---|---|---|---|---|---|")
        w(f"| {fmt(node['conversations'], 0)} conversations over {node['span_hours']} h | **{node['peak_mib']:.1f} MiB** | {node['limit']} | {node['fraction_of_limit']:.0%} | {node['phase']} | {fmt(node['ingested'], 0)} ({fmt(node['still_missing'], 0)}, {fmt(node['duplicates'], 0)}) | {fmt(node['samples'], 0)} | {node['elapsed_s']:.0f} s |")
        w("")
        w(f"Measured {node.get('measured', '?')} on commit `{node.get('commit') or '?'}`. The limit is a recovery's `spec.worker.memoryLimit` or the chart's")
        w("`worker.resources`; a worker over it is OOMKilled and the recovery says so (reason `OOMKilled`, cluster tier")
        w("scenario `oom_killed`).")
        w("")

    # ------------------------------------------------------------------ worker
    if worker_small or worker_large or encoders:
        w("## Worker")
        w("")
        w("`benches/worker.rs` runs the cluster worker (`digital-recovery worker`, the release binary) as its Job would")
        w("(the recovery's namespace and name, shard 0, the credentials in the env, an admin kubeconfig) against a real")
        w("kube-apiserver + etcd (tests/support) and `simulate`, on the same two windows as `recover` above, and reads its")
        w("`ru_maxrss` from `wait4`. Unlike `recover`, the worker writes a report: each outcome record is encoded as it")
        w("comes into the report's gzip'd JSON-lines parts (`worker::report::ReportEncoder`, up to 900 KiB each), and the")
        w("worker's status task writes each part's ConfigMap once it is full; the shard's end writes the last part.")
        w("")
    if worker_small or worker_large:
        by_label = {"small": small, "large": large}
        w("| window | worker peak RSS | `recover` peak RSS, same data | outcome records (report) | report parts | elapsed |")
        w("|---|---|---|---|---|---|")
        for r in (worker_small, worker_large):
            if not r:
                continue
            rec = by_label.get(r["label"])
            w(f"| {window_text(r)} | **{r['peak_rss_mib']:.1f} MiB**{runs_text(r, 'peak_rss_mib', 'MiB')} | {fmt(rec['peak_rss_mib'], 1, 'MiB') if rec else 'n/a'} | {fmt(r.get('outcome_records'), 0)} | {fmt(r.get('report_parts'), 0)} | {fmt(r.get('elapsed_s'), 1)} s |")
        w("")
        if worker_small and worker_large:
            w(f"10x the window gave {worker_large['peak_rss_mib'] / worker_small['peak_rss_mib']:.2f}x the worker's peak.")
            w("")
        w("Measured by hand before and after the journal's change (`BENCH_WORKER_PARTS=run cargo bench --bench worker`,")
        w("one run each, quiet machine), 1x and 10x peak: before (`94e86f0`, the journal a map and a set of every id, the")
        w("whole list re-encoded as JSON, gzip and base64 and sent back by the apiserver on each write) 30.7 and 36.3 MiB")
        w("(1.18); journal in parts (`120cd61`: 17-byte records, each write a part of its own added with a merge patch")
        w("answered with metadata only) 30.5 and 33.6 MiB (1.10); report parts also answered with metadata only")
        w("(`0c25c42`) 31.4 and 33.6 MiB (1.07). The same code in this page's run (`e45b6e4`, under other load): 29.7")
        w("and 34.5 MiB (1.16). So between runs of one build the 1x peak moves by 1.7 MiB and the 10x peak by 0.9 MiB,")
        w("and the ratio between 1.07 and 1.16: the change took 2-3 MiB off the 10x peak, but flatness within 1.10 is")
        w("not shown reliably by one run of each window. Since then the bench runs each window several times")
        w("(`BENCH_MEMORY_RUNS`, default 3; the windows take turns, each run against a fresh simulator) and the page")
        w("shows each window's median and the range of its runs; the elapsed time and records are the median run's.")
        w("")
    if encoders:
        w("The report on its own: a child process pushes N records like a shard's (seven in ten verified, three not")
        w("recorded with a reason and a detail) into the report encoder one by one as the worker's reporter does, taking")
        w("full parts as the worker's status task does:")
        w("")
        w("| outcome records | peak RSS | with no records | per record | report parts | compressed |")
        w("|---|---|---|---|---|---|")
        for e in encoders:
            w(f"| {fmt(e['records'], 0)} | **{e['peak_rss_mib']:.1f} MiB** | {e['baseline_rss_mib']:.1f} MiB | **{e['bytes_per_record']:.0f} B** | {fmt(e['report_parts'], 0)} | {e['compressed_bytes'] / 2**20:.1f} MiB |")
        w("")
        w("So the report costs the worker that much per outcome record (one per conversation missing, partial, skipped")
        w("or extra; matched ones leave none): it holds one part (up to 900 KiB) and the encoder, whatever the window.")
        w("")

    # ------------------------------------------------------------------ matcher
    if matcher:
        pages = matcher.get("page_api") or {}
        w("## Matcher")
        w("")
        w("`benches/matcher.rs` matches **1,000,000 Genesys conversations against 1,000,000 DAS contacts** for one 24 h")
        w("slice the way a shard's pipeline does (`pipeline::execute` -> `match_chunk`, `inventory::load_contacts`):")
        w("95 % of conversations held in full, 2 % held without their transfer session (partial), 3 % missing, plus")
        w("30,000 extra contacts; one in five conversations has two sessions. The slice is cut into")
        w(f"{fmt(matcher.get('chunks'), 0)} time chunks of about {fmt(matcher.get('chunk_conversations'), 0)} conversations, as `plan_chunks` cuts it for Genesys' estimate. For")
        w("each chunk a `ContactIndex::for_chunk` is filled one `index.insert(contact.record())` at a time from the DAS")
        w("pages of the chunk's range widened by the tolerance (the DAS client's `Contact`, start time still RFC 3339 text,")
        w(f"as parsed off the wire; {fmt(matcher.get('contacts_indexed'), 0)} inserts in all, the overlap of neighbouring chunks twice; the largest")
        w(f"index {fmt(matcher.get('largest_index'), 0)} contacts), then a `Matcher::for_chunk` taking the previous chunk's carry classifies the")
        w("chunk's conversations one `classify` at a time, and `finish_chunk` + `MatchReport::merge` close it. Inputs are")
        w("generated a page (1,000) at a time, untimed; only matcher calls are timed. On-CPU time is this thread's")
        w("`/proc/thread-self/schedstat`, which leaves out time spent waiting for a core; peak memory is the process's")
        w("`VmHWM`. For comparison the same chunks are matched through the page APIs (`ContactIndex::insert_page`,")
        w("`Matcher::classify_page`), which the pipeline does not call; the two kinds of runs alternate.")
        w("")
        w("| calls | runs | median wall | median on-CPU | median index | median classify + finish | to recover | extras |")
        w("|---|---|---|---|---|---|---|---|")
        w(f"| one at a time (the pipeline's) | {matcher['runs']} | **{matcher['median_wall_s']:.3f} s** | {matcher['median_cpu_s']:.3f} s | {matcher['median_index_s']:.3f} s | {matcher['median_classify_s']:.3f} s | {fmt(matcher['to_recover'], 0)} | {fmt(matcher['extras'], 0)} |")
        if pages:
            w(f"| page APIs, same chunks | {matcher['runs']} | {pages['median_wall_s']:.3f} s | {pages['median_cpu_s']:.3f} s | {pages['median_index_s']:.3f} s | {pages['median_classify_s']:.3f} s | {fmt(pages.get('to_recover'), 0)} | {fmt(pages.get('extras'), 0)} |")
        w("")
        w(f"Peak RSS (VmHWM, the whole bench process): **{matcher['peak_rss_mib']:.1f} MiB**. Each run's wall time, one at a time:")
        w(f"{', '.join(f'{x:.3f}' for x in matcher['wall_s'])} s" + (f"; page APIs: {', '.join(f'{x:.3f}' for x in pages['wall_s'])} s." if pages else "."))
        w("")
        if pages:
            ratio = pages["median_cpu_s"] / matcher["median_cpu_s"] if matcher["median_cpu_s"] else float("nan")
            w(f"Reading: on chunk-sized indexes the page APIs take {ratio:.2f}x the on-CPU time of one call at a time. They")
            largest = matcher.get("largest_index") or 0
            slots = 1 << max(2 * largest - 1, 1).bit_length()
            w("read the home slot of every id of a page first, so that the cache misses of a large table overlap; a chunk's")
            w(f"table (at most half full: {slots:,} slots of 24 bytes, {slots * 24 / 2**20:.1f} MiB, for the largest chunk here) mostly stays in")
            w("the cache, so there are few misses to overlap. The pipeline calls `insert` and `classify` per item.")
            w("")
        w("The index is a purpose-built open-addressing table (`src/pipeline/matcher/table.rs`: key and value in one")
        w("24-byte slot, linear probing, at most half full) and UUIDs are parsed by a table-driven fast path checked")
        w("against the `uuid` crate by a property test. Indexing includes `Contact::record()`, which parses each contact's")
        w("start time from its text. Memory, by construction: one chunk's table and 16 B per session id of its contacts,")
        w("plus the contacts carried to the next chunk (a band of two tolerances); nothing grows with the slice.")
        w("")
        w("Before it measured the pipeline's path, this bench timed a single million-contact index fed through the")
        w("page APIs, which the pipeline never builds (0.440 s, 84.2 MiB on")
        w("`3e57415`, with the analytics recording flag still trusted, hence 33,393 to recover); those figures are not")
        w("comparable with these.")
        w("")

    # ------------------------------------------------------------------ genesys
    if throughput or fidelity:
        w("## Genesys client")
        w("")
        w("`benches/genesys_collect.rs`: simulator and client in one process on loopback (`sim::start`, port 0).")
        w("")
    if throughput:
        gen = throughput[0]["generated"]
        w(f"### Collecting {fmt(gen, 0)} conversations (no rate limit, no latency)")
        w("")
        w("| mode | runs | median | conversations | API calls | errors |")
        w("|---|---|---|---|---|---|")
        names = {"Never": "sync paging (`JobsMode::Never`, 4 pages of 100 in flight)", "Auto": "`JobsMode::Auto` (jobs of 1,000 per page + sync tail)"}
        for t in throughput:
            w(f"| {names.get(t['jobs'], t['jobs'])} | {t['runs']} | **{fmt(t['conversations_per_s'], 0)} conversations/s** ({t['elapsed_s']:.1f} s) | {fmt(t['conversations'], 0)} | {fmt(t['calls'], 0)} | {fmt(t['errors'], 0)} |")
        w("")
        if collect_mem:
            w(f"Peak memory (VmHWM of the whole process, simulator + dataset + client): **{collect_mem['peak_rss_mib']:.1f} MiB**;")
            w(f"RSS after generating the dataset and starting the simulator: {collect_mem['rss_after_sim_mib']:.1f} MiB.")
            w("")
        w("Reading: without a rate limit the simulator's JSON rendering is the bottleneck, and sync paging (concurrent")
        w("100-row pages) beats jobs (one 1,000-row page at a time plus job polling). Under a real per-token limit what")
        by_mode = {t["jobs"]: t for t in throughput}
        if "Never" in by_mode and "Auto" in by_mode and by_mode["Auto"]["calls"]:
            share = by_mode["Never"]["calls"] / by_mode["Auto"]["calls"]
            w(f"counts is API calls: here jobs needed {fmt(by_mode['Auto']['calls'], 0)} calls where sync paging needed")
            w(f"{fmt(by_mode['Never']['calls'], 0)} ({share:.1f}x as many). That is why `Auto` uses jobs for slices with many hits.")
        else:
            w("counts is API calls, and jobs need far fewer. That is why `Auto` uses jobs for slices with many hits.")
        w("Throughput is CPU-bound, so it moves with the machine's load.")
        w("")
    if fidelity:
        w(f"### Rate fidelity: `--rate-limit {fidelity['limit_per_min']} --latency-ms {fidelity['latency_ms']}`")
        w("")
        w(f"Client budget {fidelity['limit_per_min']}/min (adaptive: the server's burst until the first 429, then one request per interval), sync paging, {fidelity['elapsed_s']:.0f} s:")
        w("")
        w("| achieved | fraction of the limit | 429s | 429s after the first minute |")
        w("|---|---|---|---|")
        w(f"| {fidelity['requests_per_min']:.1f} requests/min | **{fidelity['fraction_of_limit']:.3f}** | {fmt(fidelity['throttled'], 0)} | **{fmt(fidelity['throttled_after_first_minute'], 0)}** |")
        w("")
        w("A fraction above 1 comes from the simulator's burst (ten seconds' worth), which the client uses at")
        w("the start, spread over a short run; the steady rate is the limit.")
        w("")

    # ------------------------------------------------------------------ fleet
    if shard:
        w("## Fleet")
        w("")
        w("`benches/fleet.rs` runs the release binary's `simulate` and `recover` as separate processes and polls the")
        w("simulator's own counters (`/sim/genesys/stats`) every 100 ms while the recovery runs.")
        w("")
        w(f"### One shard vs the fastest schedule: `--rate-limit {shard['rate_limit_per_min']} --latency-ms {shard['latency_ms']}`, {fmt(shard['generated'], 0)} conversations, 5 % missing")
        w("")
        w(f"One `recover` shard (`parallelism: 1`, `requestsPerMinute: {shard['rate_limit_per_min']}`, the production pipeline). The")
        w("fastest schedule the simulator's limiter allows for the calls the run made (429s excluded: they cost the")
        w(f"limiter nothing) is its burst ({fmt(shard['sim_burst'], 0)} calls) at once, then one call per interval.")
        w("")
        w("| Genesys calls (429s) | fastest schedule | recover | ratio | last Genesys call (ratio) | last 429 |")
        w("|---|---|---|---|---|---|")
        last_call = shard.get("last_genesys_call_s")
        last_429 = shard.get("last_429_s")
        call_ratio = "-" if last_call is None else f"{last_call:.1f} s ({last_call / shard['ideal_s']:.3f})"
        w(f"| {fmt(shard['genesys_calls'], 0)} ({fmt(shard['rate_limited'], 0)}) | {shard['ideal_s']:.1f} s | {shard['elapsed_s']:.1f} s | **{shard['elapsed_over_ideal']:.3f}** | "
          f"{call_ratio} | {'-' if last_429 is None else f'{last_429:.1f} s'} |")
        w("")
        w("Times of the last call and the last 429 count from the start of the `recover` process (the poll's")
        w("resolution is 100 ms). The client sends as fast as its work allows until the first 429, which ends the")
        w("server's burst; after that 429's Retry-After it paces at the limit and sees no further 429. What the")
        w("shard does after its last Genesys call (verifying that DAS shows what it sent to Capture) is outside the")
        w("limiter's schedule and is the difference between the two ratios.")
        w("")

    # ------------------------------------------------------------------ controller
    if controller:
        n = controller["recoveries"]
        w("## Controller")
        w("")
        w("`benches/controller.rs` starts a real kube-apiserver + etcd (tests/support), the release `controller` binary,")
        w("waits 5 s and reads its idle RSS (`/proc/<pid>/status` VmRSS), then creates N DigitalRecovery objects (50 at a")
        w("time) and waits until every one has its Job and a `Pending` status with `observedGeneration` (no job controller")
        w("runs, so they stay Pending). The apiserver, etcd and the controller share the machine's cores.")
        w("")
        w("| measure | figure | target |")
        w("|---|---|---|")
        w(f"| idle RSS (leader, no recoveries) | **{controller['idle_rss_mib']:.1f} MiB** | < 40 MB |")
        w(f"| {fmt(n, 0)} recoveries created | {controller['created_s']:.1f} s | |")
        w(f"| all {fmt(n, 0)} reconciled (Job + status) | {controller['reconciled_s']:.1f} s = **{controller['recoveries_per_s']:.1f} recoveries/s** | |")
        w(f"| busy peak RSS (VmHWM) | {controller['peak_rss_mib']:.1f} MiB | |")
        w(f"| RSS 5 s after, idle with {fmt(n, 0)} recoveries (the reflector caches of recoveries and Jobs) | **{controller['after_rss_mib']:.1f} MiB** | < 40 MB |")
        w(f"| reconciles (all triggers: creation, the Job's watch event, admission and budget wake-ups, requeues) | {fmt(controller.get('reconciles'), 0)} | |")
        w(f"| reconcile failures | {fmt(controller['reconcile_failures'], 0)} | |")
        w("")
        w("Each reconcile makes about three API calls (Job apply, status apply, and an Event on the phase change), so")
        w("the apiserver on the same cores bounds the throughput.")
        w("")

    # Measured by hand (tests/recording_side_load.rs), not by a bench: kept as written.
    w("")
    for line in VERIFICATION_LOAD.strip("\n").split("\n"):
        w(line)

    sys.stdout.write("\n".join(out).rstrip() + "\n")


if __name__ == "__main__":
    main()
