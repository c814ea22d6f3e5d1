#!/usr/bin/env bash
# Runs every benchmark in one go and renders docs/benchmarks.md from what they measured.
#
#   make bench            # or: scripts/bench.sh
#
# Each bench (benches/*.rs, `harness = false`) prints human-readable lines plus one or more
# `BENCH_JSON {...}` lines; this script collects those, samples the load average while each bench
# runs (the machine may be shared), and hands everything to scripts/render_benchmarks.py. Every
# number in docs/benchmarks.md comes from this run.
#
# Knobs (environment; defaults give the documented run, about 30 minutes on 2 cores):
#   BENCH_ONLY="matcher pipeline"   run a subset (the page then only has those sections)
#   BENCH_MATCHER_RUNS=5            matcher repetitions (median reported)
#   BENCH_CONVERSATIONS=100000      Genesys collection throughput dataset
#   BENCH_RUNS=3                    Genesys collection throughput repetitions
#   BENCH_RATE_SECONDS=75           Genesys client rate-fidelity run (> 60)
#   BENCH_RATE_CONVERSATIONS=20000  pipeline run under the 600/min rate limit
#   BENCH_MEMORY_SMALL=20000        pipeline and worker memory runs, 1x window (24 h)
#   BENCH_MEMORY_LARGE=200000       pipeline and worker memory runs, 10x window (as many times 24 h
#                                   as LARGE/SMALL: the same density over a longer span)
#   BENCH_MEMORY_RUNS=3             pipeline and worker memory runs of each window (median reported)
#   BENCH_PIPELINE_PARTS=rate,memory,flag  parts of the pipeline bench to run
#   BENCH_SLICES_CONVERSATIONS=40000 fleet_slices: a business-hours day, 8 shards, balanced vs
#                                   equal-time slices
#   BENCH_NAIVE_CONVERSATIONS=20000  fleet_naive: `recover` vs a naive official-SDK script (the
#                                   script alone takes several minutes at the default)
#   BENCH_FLEET_ORGS_CONVERSATIONS=20000 fleet_orgs: the largest of 8 orgs (the others from half
#                                   of it up); 40 recoveries through the real controller
#   BENCH_FLEET_ORGS_PARTS=budget,lower  fleet_orgs: all orgs at their budget; the last org's
#                                   real limit 30 % below it
#   BENCH_WORKER_PARTS=run,encoder  parts of the worker bench to run
#   BENCH_RECOVERIES=1000           controller: recoveries created at once
#   BENCH_FLEET_CONVERSATIONS=12000 fleet: the one-shard-vs-fastest-schedule run (300/min, 30 ms)
#   BENCH_CLUSTER_CONVERSATIONS=200000  cluster: conversations of the one worker shard whose
#                                   memory is read from its container's cgroup on the real node
#                                   (the `cluster` bench needs root; add it with BENCH_ONLY)
#   BENCH_OUT=target/bench-results  where logs and results.jsonl go
#   BENCH_DOC=docs/benchmarks.md    the page written
set -euo pipefail
cd "$(dirname "$0")/.."

out=${BENCH_OUT:-target/bench-results}
doc=${BENCH_DOC:-docs/benchmarks.md}
# The cluster bench runs a real node, which needs root.
default_benches="matcher genesys_collect pipeline fleet fleet_naive fleet_slices fleet_orgs controller worker"
[[ $(id -u) == 0 ]] && default_benches+=" cluster"
benches=${BENCH_ONLY:-$default_benches}
mkdir -p "$out"
results="$out/results.jsonl"
: >"$results"

event() { # name, event
  printf '{"bench":"meta","name":"%s","event":"%s","time":"%s","loadavg":"%s"}\n' \
    "$1" "$2" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(cut -d' ' -f1-3 /proc/loadavg)" >>"$results"
}

# Build everything first, so that no bench's figures include compiling.
cargo bench --locked --no-run
if [[ " $benches " == *" cluster "* ]]; then
  cargo test --release --locked --test cluster_tier --no-run
fi

# What was measured: the commit (and whether the tree had uncommitted changes) as built.
dirty=false
[[ -n $(git status --porcelain --untracked-files=no 2>/dev/null) ]] && dirty=true
printf '{"bench":"meta","name":"all","event":"source","commit":"%s","dirty":%s,"rustc":"%s"}\n' \
  "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" "$dirty" "$(rustc --version)" >>"$results"
event all start
for bench in $benches; do
  args=()
  [[ $bench == matcher ]] && args=(-- "${BENCH_MATCHER_RUNS:-5}")
  echo "== $bench" >&2
  event "$bench" start
  # The 1-minute load average every 5 s: how busy the machine was besides us.
  (while sleep 5; do cut -d' ' -f1 /proc/loadavg; done) >"$out/$bench.load" &
  sampler=$!
  status=0
  if [[ $bench == cluster ]]; then
    # The release binary in the chart-installed image, on a real node (tests/cluster_tier/bench.rs).
    DR_CLUSTER_SCENARIOS=shard_memory cargo test --release --locked --test cluster_tier -- --nocapture \
      2>&1 | tee "$out/$bench.log" || status=$?
  else
    cargo bench --locked --bench "$bench" "${args[@]}" 2>&1 | tee "$out/$bench.log" || status=$?
  fi
  kill "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  printf '{"bench":"meta","name":"%s","event":"load","samples":[%s]}\n' "$bench" \
    "$(paste -sd, "$out/$bench.load")" >>"$results"
  event "$bench" end
  if [[ $status -ne 0 ]]; then
    echo "bench $bench failed (status $status); see $out/$bench.log" >&2
    exit "$status"
  fi
  sed -n 's/^BENCH_JSON //p' "$out/$bench.log" >>"$results"
done
event all end

python3 scripts/render_benchmarks.py "$results" >"$doc.tmp"
mv "$doc.tmp" "$doc"
echo "wrote $doc" >&2
