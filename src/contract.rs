//! The contract between the controller and its workers: the names, labels, environment, exit
//! codes and field managers both sides must agree on. Everything here is derived from a
//! recovery's name and a shard index alone, so the controller, a worker and `report` compute the
//! same values without talking to each other.

use sha2::{Digest, Sha256};

// Environment of a worker pod.

/// Env var the worker reads the Genesys OAuth client id from (Secret-backed, never logged).
pub const ENV_GENESYS_CLIENT_ID: &str = "DR_GENESYS_CLIENT_ID";
/// See [`ENV_GENESYS_CLIENT_ID`].
pub const ENV_GENESYS_CLIENT_SECRET: &str = "DR_GENESYS_CLIENT_SECRET";
/// See [`ENV_GENESYS_CLIENT_ID`].
pub const ENV_RECORDING_CLIENT_ID: &str = "DR_RECORDING_CLIENT_ID";
/// See [`ENV_GENESYS_CLIENT_ID`].
pub const ENV_RECORDING_CLIENT_SECRET: &str = "DR_RECORDING_CLIENT_SECRET";
/// Env var carrying the chart's cap on a worker pod's concurrent Capture writes
/// (`worker.captureWriters`), set by the controller on every worker container.
pub const ENV_CAPTURE_WRITERS: &str = "DR_CAPTURE_WRITERS";
/// Concurrent Capture writes of a worker pod when the chart does not say.
pub const DEFAULT_CAPTURE_WRITERS: u32 = 8;
/// Env var the Job controller sets to a worker pod's shard index (Indexed Jobs).
pub const ENV_SHARD_INDEX: &str = "JOB_COMPLETION_INDEX";
/// The worker's number of shards (its Job's completions: `spec.parallelism` resolved).
pub const ENV_SHARDS: &str = "DR_SHARDS";

// Exit codes, read by the Job's pod failure policy.

/// Exit code of a worker whose input is wrong (missing credentials, unusable spec): retrying
/// cannot help, so the Job's pod failure policy fails the index at once.
pub const EXIT_CONFIG_ERROR: i32 = 3;
/// Exit code of a worker stopped by SIGTERM (its pod deleted, evicted, drained or preempted):
/// 128 + 15, as a shell reports it. Retryable: the Job starts the shard again elsewhere. A user's
/// cancel never reaches the worker as a signal it must tell apart: cancelling deletes the Job,
/// after which nothing is retried.
pub const EXIT_TERMINATED: i32 = 143;
/// Seconds a terminated worker pod gets before SIGKILL: the worker stops its pipeline within
/// [`crate::worker::WIND_DOWN`] and writes its progress so far.
pub const TERMINATION_GRACE_SECONDS: i64 = 30;

// Field managers of server-side apply: each writer owns its own fields.

/// Field manager of everything the recovery controller applies (Jobs, worker RBAC, status).
pub const CONTROLLER_MANAGER: &str = "digital-recovery-controller";
/// Field manager of the schedule controller (its status, the runs it creates).
pub const SCHEDULE_MANAGER: &str = "digital-recovery-schedule-controller";

/// Field manager of shard `shard`'s worker: its `status.shards[shard]` entry, its report and
/// journal ConfigMaps. One per shard, so shards never take each other's entries.
pub fn worker_manager(shard: u32) -> String {
    format!("digital-recovery-worker-{shard}")
}

// Labels.

/// Label carrying the (shortened) recovery name on everything made for it.
pub const RECOVERY_LABEL: &str = "recovery.cxops.io/recovery";
/// Label carrying the shard index on report ConfigMaps.
pub const SHARD_LABEL: &str = "recovery.cxops.io/shard";
/// Label of a report ConfigMap's part number.
pub const PART_LABEL: &str = "recovery.cxops.io/part";
/// Label naming the recovery a journal ConfigMap belongs to.
pub const JOURNAL_LABEL: &str = "recovery.cxops.io/journal-of";
/// Label naming the schedule (its label value) a ledger ConfigMap belongs to.
pub const LEDGER_LABEL: &str = "recovery.cxops.io/ledger-of";
/// Label of a ledger ConfigMap's day (the UTC day its conversations started, `2026-11-20`).
pub const DAY_LABEL: &str = "recovery.cxops.io/day";
/// Label of the generation a ledger ConfigMap was written in; a day's head names the one in
/// force.
pub const GENERATION_LABEL: &str = "recovery.cxops.io/generation";
/// Annotation on a ledger day's head: how many parts its generation has.
pub const PARTS_ANNOTATION: &str = "recovery.cxops.io/parts";
/// `app.kubernetes.io/managed-by` of the worker Jobs; the controller watches Jobs with it.
pub const MANAGED_BY_CONTROLLER: &str = "app.kubernetes.io/managed-by=digital-recovery-controller";

// Data keys.

/// Data key of a report ConfigMap: gzip'd JSON lines of outcome records.
pub const REPORT_KEY: &str = "outcomes.jsonl.gz";
/// Data key of a ledger ConfigMap: gzip'd JSON lines of ledger entries.
pub const LEDGER_KEY: &str = "entries.jsonl.gz";
/// Data key of a journal ConfigMap written by earlier versions: gzip'd lines `<uuid> m|p`.
pub const JOURNAL_KEY: &str = "conversations.gz";
/// Data keys of a journal ConfigMap's parts, `records-<n>`: each holds one write's entries as
/// 17-byte records (`pipeline::journal::encode`), so a write adds its own part, not the whole.
pub const JOURNAL_PART_PREFIX: &str = "records-";

// Object names.

/// Base name of the worker ServiceAccount, Role and RoleBinding of a recovery.
pub const WORKER_ACCOUNT: &str = "digital-recovery-worker";
/// Longest Job name. An Indexed Job's pods are named `<job>-<index>-<5 random>` and their host
/// names `<job>-<index>` must be DNS labels (63); the apiserver refuses an Indexed Job whose
/// largest host name would not be one. 52 leaves room for both.
const MAX_JOB_NAME: usize = 52;
/// Longest label value.
pub const MAX_LABEL_VALUE: usize = 63;
/// Longest object name (a DNS subdomain).
pub const MAX_OBJECT_NAME: usize = 253;
/// Hex digits of the name's SHA-256 appended to a shortened name.
const HASH_DIGITS: usize = 8;

/// `name` when it fits `max` bytes, else its longest prefix that leaves room for `-` and a short
/// hash of the whole name. Deterministic, so the controller, the workers and `report` all derive
/// the same value, and distinct for names that share the prefix. The result stays a valid DNS
/// name or label value when `name` is one.
pub fn shorten(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_string();
    }
    prefix_and_hash(name, name, max)
}

/// The longest prefix of `readable` that leaves room for `-` and the first hex digits of the
/// SHA-256 of `hashed`, at most `max` bytes. The prefix never ends in `-` or `.`: DNS names and
/// label values end in a letter or digit.
fn prefix_and_hash(readable: &str, hashed: &str, max: usize) -> String {
    let digest = hex::encode(Sha256::digest(hashed.as_bytes()));
    let hash = &digest[..HASH_DIGITS.min(max)];
    let room = max.saturating_sub(hash.len() + 1);
    let mut prefix = String::with_capacity(room);
    for c in readable.chars() {
        if prefix.len() + c.len_utf8() > room {
            break;
        }
        prefix.push(c);
    }
    match prefix.trim_end_matches(['-', '.']) {
        "" => hash.to_string(),
        prefix => format!("{prefix}-{hash}"),
    }
}

/// A label value for a name (names can be longer than the 63 characters a label value holds).
/// Every label and selector naming a recovery or a schedule goes through here.
pub fn label_value(name: &str) -> String {
    shorten(name, MAX_LABEL_VALUE)
}

/// The name of a recovery's Job: the recovery's own name when it is a short enough DNS label,
/// else a prefix (dots made dashes: pod host names cannot hold them) and a hash of the name.
pub fn job_name(recovery: &str) -> String {
    if recovery.len() <= MAX_JOB_NAME && !recovery.contains('.') {
        return recovery.to_string();
    }
    // The hash is of the original name, which keeps "a.b" and "a-b" apart.
    prefix_and_hash(&recovery.replace('.', "-"), recovery, MAX_JOB_NAME)
}

/// The ServiceAccount (and Role, RoleBinding) name of one recovery's workers. One identity per
/// recovery lets its Role name that recovery alone (`resourceNames`), so a worker can read and
/// patch only its own DigitalRecovery.
pub fn worker_account(recovery: &str) -> String {
    shorten(&format!("{WORKER_ACCOUNT}-{recovery}"), MAX_OBJECT_NAME)
}

/// Name of the ConfigMap holding a recovery's shard slices, cut once by its first worker.
pub fn slices_name(recovery: &str) -> String {
    format!("{}-slices", label_value(recovery))
}

/// The key of a slices ConfigMap: the JSON of the slices and how they were cut.
pub const SLICES_KEY: &str = "slices.json";

/// Name of part `part` of shard `shard`'s report ConfigMaps.
pub fn report_name(recovery: &str, shard: u32, part: usize) -> String {
    format!("{}-report-{shard}-{part}", label_value(recovery))
}

/// Name of the head ConfigMap of a schedule's ledger day (`day` as `2026-11-20`): it holds the
/// day's first part and names its generation.
pub fn ledger_name(schedule: &str, day: &str) -> String {
    format!("{}-ledger-{}", label_value(schedule), day.replace('-', ""))
}

/// Name of part `part` (1 and up) of generation `generation` of a schedule's ledger day.
pub fn ledger_part_name(schedule: &str, day: &str, generation: &str, part: usize) -> String {
    format!("{}-{generation}-{part}", ledger_name(schedule, day))
}

/// Name of shard `shard`'s journal ConfigMap.
pub fn journal_name(recovery: &str, shard: u32) -> String {
    format!("{}-journal-{shard}", label_value(recovery))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A label value (empty, or alphanumeric at both ends with `-_.` inside, at most 63).
    pub(crate) fn is_label_value(s: &str) -> bool {
        s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && s.bytes().next().is_none_or(|b| b.is_ascii_alphanumeric())
            && s.bytes().last().is_none_or(|b| b.is_ascii_alphanumeric())
    }

    #[test]
    fn shortened_names_are_stable_and_tell_names_apart() {
        let long = "a".repeat(100);
        assert_eq!(job_name(&long), job_name(&long));
        assert_ne!(job_name(&long), job_name(&"a".repeat(101)));
        assert_eq!(label_value(&long), label_value(&long));
        assert_ne!(label_value(&long), label_value(&"a".repeat(101)));
        assert_eq!(label_value(&long).len(), 63);
        // Names that differ only in a dot and a dash keep distinct Jobs.
        assert_ne!(job_name("acme.nov"), job_name("acme-nov"));
        assert_eq!(job_name("acme-nov"), "acme-nov");
        assert!(job_name("acme.nov").starts_with("acme-nov-"));
        // A cut that would end in a dot or dash drops it.
        let awkward = format!("{}.{}", "b".repeat(53), "c".repeat(20));
        assert!(
            is_label_value(&label_value(&awkward)),
            "{}",
            label_value(&awkward)
        );
    }

    #[test]
    fn the_controller_watches_the_jobs_it_labels() {
        assert_eq!(
            MANAGED_BY_CONTROLLER,
            format!("app.kubernetes.io/managed-by={CONTROLLER_MANAGER}")
        );
    }

    #[test]
    fn each_shard_writes_under_its_own_field_manager() {
        assert_eq!(worker_manager(0), "digital-recovery-worker-0");
        assert_ne!(worker_manager(1), worker_manager(11));
        assert_ne!(worker_manager(1), CONTROLLER_MANAGER);
    }
}
