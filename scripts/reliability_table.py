#!/usr/bin/env python3
"""Renders docs/reliability.md from the rows tests/fault_matrix.rs writes to $DR_RELIABILITY_OUT.

Usage: reliability_table.py ROW_DIR OUTPUT.md   (run by `make reliability`)
"""
import datetime
import json
import os
import pathlib
import platform
import subprocess
import sys

ORDER = [
    "baseline", "429-storm", "5xx", "timeouts", "truncated-bodies", "token-expiry", "transcoding",
    "capture-back-pressure-429", "capture-back-pressure-503", "das-outage-at-start",
    "das-outage-mid-run", "all-at-once", "worker-sigkill", "controller-restart",
    "apiserver-restart",
]

HEADER = """# Reliability: the fault matrix

Produced by **`make reliability`**, which runs `tests/fault_matrix.rs` on a real kube-apiserver + etcd
with the real controller and worker binaries (the test job stand-in plays kubelet and the job
controller) against the simulators, and renders this file with `scripts/reliability_table.py`.
`make test` (and so CI) runs the same scenarios and fails when any row below would be wrong.
Seed of the random kill/restart moments: `DR_FAULT_SEED` (default 7).

Generated {when} on commit `{commit}` ({machine}).

Each upstream scenario recovers the same 1,000-conversation day (seed 11: 8 % missing, 5 % partial,
plus archived/deleted recordings, transfers and unrecorded conversations) in two shards, in its own
namespace with its own simulators, all at once on one control plane and one controller. Each
platform scenario recovers 2,000 conversations (10 ms simulated latency, so disruptions land mid-run)
on its own control plane.

Columns: **missing+partial** and **recovered / verified / failed** are the recovery's status;
**still missing, duplicates, conflicts, resent** are the simulators' ground truth (`/sim/report`:
`duplicates` counts PUTs of a conversation the store already held in full before the first PUT of
it, `resent` identical re-sends after a lost response, which are harmless); **faults hit** counts the
injected faults answered; **worker runs** counts worker processes over both shards (2 = no retry).

"""

FOOTER = """
## What "the status tells the truth" checks

For every row, against the simulators' ground truth and the recovery's report ConfigMaps:
- the phase is `Succeeded` when nothing failed and `PartiallySucceeded` when something did, with a
  `completionTime`, `observedGeneration` current, nothing `pending`,
  `toRecover = recovered + failed + notRecorded`, and the match counts add up
  (`genesys = matched + missing + partial + skipped`);
- the report's `notRecorded` conversations are exactly the withheld ones Genesys never recorded
  (its recordings API answers an empty list; text sessions carry no analytics `recording` flag, as
  documented), and the status counts the same number;
- the report's failed conversations are exactly those whose lacking recordings are archived or
  deleted, each with that reason, and the status counts the same number; nothing is unverified or
  conflicting;
- the report's recovered conversations (verified, recovered or already present) are all
  conversations that were missing; status `recovered` equals the report's count;
- recovered = verified = the simulators' 201 count = every withheld conversation with a downloadable
  recording, and `toRecover` = every withheld conversation, **also after worker retries**: a retried
  shard reads the journal its earlier attempts wrote before each send to Capture
  (`<recovery>-journal-<shard>`), so what they recovered still counts (report reason
  `recoveredByEarlierAttempt`).

## How the faults are survived

- Per-request faults (429, 5xx, timeouts, truncation) are retried by the HTTP transport with
  jittered backoff; a 429 that states its wait costs time, not an attempt, and every retry is
  bounded by 12 attempts and 5 minutes. A 401 (token expired or revoked) fetches a fresh token and
  tries again, up to 3 times per request. A resend after a lost answer carries the same
  `Idempotency-Key` and gets Capture's first answer again (column `resent`), never a second
  interaction.
- Transcoding recordings and Capture back-pressure defer the conversation to a later round of the
  same attempt (5 minutes at most), then fail it with a reason.
- A DAS outage of a minute is outlasted by the retries inside one attempt (inventory, token and
  verification alike).
- A killed worker is retried by its Job (`backoffLimitPerIndex: 3`); the pipeline is idempotent
  (match again; Capture replays its first answer for a key it has seen, 200 for
  identical content already held) and the journal keeps the count.
- A killed controller is replaced; the new leader folds the shards' status from the Jobs and the
  recovery's `status.shards`, which the workers own.
- While the apiserver is down, workers keep working and retry their status, report and journal
  writes for up to 3 minutes; the controller loses its Lease, exits and is restarted (as its
  Deployment would), then picks up where the status says.
"""


def cell(value):
    return str(value).replace("|", "\\|")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    rows_dir, output = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    rows = {}
    for path in sorted(rows_dir.glob("*.json")):
        row = json.loads(path.read_text())
        rows[row["scenario"]] = row
    if not rows:
        sys.exit(f"no rows in {rows_dir}: run the fault matrix with DR_RELIABILITY_OUT={rows_dir}")
    names = [n for n in ORDER if n in rows] + sorted(n for n in rows if n not in ORDER)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "unknown"
    machine = f"{os.cpu_count()} cores, {platform.system()} {platform.machine()}"
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [HEADER.format(when=when, commit=commit, machine=machine)]
    lines.append("| scenario | injected | faults hit | phase | missing+partial | recovered / verified / "
                 "failed (reasons) | still missing | duplicates | conflicts | resent | worker runs | "
                 "time | status tells the truth |")
    lines.append("|" + "---|" * 13)
    failures = []
    for name in names:
        r = rows[name]
        reasons = f" ({r['failedReasons']})" if r["failedReasons"] else ""
        truth = "yes" if not r["statusProblems"] else "**no**: " + "; ".join(r["statusProblems"])
        ok = (r["stillMissing"], r["duplicates"], r["conflicts"]) == (0, 0, 0) and not r["statusProblems"]
        if not ok:
            failures.append(name)
        lines.append("| " + " | ".join(cell(v) for v in [
            f"**{name}**", r["injected"], r["faultsHit"], r["phase"], r["missingAndPartial"],
            f"{r['recovered']} / {r['verified']} / {r['failed']}{reasons}",
            r["stillMissing"], r["duplicates"], r["conflicts"], r["resent"], r["workerRuns"],
            f"{r['seconds']} s", truth,
        ]) + " |")
    lines.append("")
    if failures:
        lines.append(f"**Targets not met in this run:** {', '.join(failures)} (see the rows).")
    else:
        lines.append(f"All {len(names)} scenarios: stillMissing 0, duplicates 0, conflicts 0, and the "
                     "status told the truth.")
    lines.append(FOOTER)
    output.write_text("\n".join(lines))
    print(f"wrote {output} ({len(names)} scenarios)")


if __name__ == "__main__":
    main()
