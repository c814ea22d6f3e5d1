//! Kubernetes API plumbing shared by the controllers and the worker: server-side apply of
//! objects and status, patience with an apiserver that is briefly away, kstatus conditions and
//! Events.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::{
    api::{core::v1::ObjectReference, events::v1::Event as EventObject},
    apimachinery::pkg::apis::meta::v1::{Condition, MicroTime, ObjectMeta, Time},
};
use kube::{
    Api, Client, Resource,
    api::{DeleteParams, Patch, PatchParams, PostParams, Preconditions},
    runtime::events::{EventType, Reporter},
};
use serde::{Serialize, de::DeserializeOwned};
use tracing::warn;

/// Whether `owner` (this very object, by uid) owns `obj`: an object left by an earlier owner of
/// the same name (deleted, its dependents not yet collected) is not its.
pub fn owned_by(obj: &impl Resource, owner: &impl Resource) -> bool {
    obj.meta()
        .owner_references
        .iter()
        .flatten()
        .any(|o| Some(&o.uid) == owner.meta().uid.as_ref())
}

/// Deletes `obj` only while it is that very object (a precondition on its uid): gone already,
/// or replaced by another of its name, counts as done.
pub async fn delete_exactly<K>(api: &Api<K>, obj: &K) -> Result<(), kube::Error>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: obj.meta().uid.clone(),
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    let name = obj.meta().name.clone().unwrap_or_default();
    match api.delete(&name, &params).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => Ok(()),
        Err(err) => Err(err),
    }
}

/// `obj` as a server-side apply body: serialized, with the `apiVersion` and `kind` SSA needs.
pub fn apply_body<K: Resource<DynamicType = ()> + Serialize>(
    obj: &K,
) -> Result<serde_json::Value, serde_json::Error> {
    let mut v = serde_json::to_value(obj)?;
    if let Some(map) = v.as_object_mut() {
        map.insert("apiVersion".into(), K::api_version(&()).into());
        map.insert("kind".into(), K::kind(&()).into());
    }
    Ok(v)
}

/// Why [`apply`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("cannot serialize the object: {0}")]
    Serialize(#[from] serde_json::Error),
    #[error(transparent)]
    Kube(#[from] kube::Error),
}

/// Server-side applies `obj` as `manager`, taking over fields others set (each writer here owns
/// the whole of what it applies).
pub async fn apply<K>(api: &Api<K>, name: &str, manager: &str, obj: &K) -> Result<K, ApplyError>
where
    K: Resource<DynamicType = ()> + Serialize + DeserializeOwned + Clone + std::fmt::Debug,
{
    let body = apply_body(obj)?;
    Ok(api
        .patch(
            name,
            &PatchParams::apply(manager).force(),
            &Patch::Apply(&body),
        )
        .await?)
}

/// Server-side applies `status` to the status subresource of `name` as `manager`: the fields
/// `status` holds become `manager`'s, fields other managers own stay theirs.
pub async fn apply_status<K, S>(
    api: &Api<K>,
    name: &str,
    manager: &str,
    status: &S,
) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = ()> + DeserializeOwned + Clone + std::fmt::Debug,
    S: Serialize,
{
    let body = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(
        name,
        &PatchParams::apply(manager).force(),
        &Patch::Apply(&body),
    )
    .await
    .map(|_| ())
}

/// The apiserver's own words for a refused request (kube's Display adds a Debug dump).
pub fn api_message(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => format!("{} ({})", status.message, status.code),
        other => other.to_string(),
    }
}

/// Whether a Kubernetes API error may go away by itself: no connection, a 429 or a 5xx.
pub fn is_transient(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => status.code == 429 || status.code >= 500,
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => true,
        _ => false,
    }
}

/// Runs `call` until it succeeds, fails for good, or `patience` has passed, backing off 0.5 s
/// doubling to 10 s between transient failures (as `transient` judges them).
pub async fn patiently<T, E, F, Fut>(
    what: &str,
    patience: Duration,
    transient: fn(&E) -> bool,
    mut call: F,
) -> Result<T, E>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let deadline = tokio::time::Instant::now() + patience;
    let mut delay = Duration::from_millis(500);
    loop {
        match call().await {
            Err(e) if transient(&e) && tokio::time::Instant::now() + delay < deadline => {
                warn!(error = %e, what, "the apiserver is unavailable; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
            }
            result => return result,
        }
    }
}

/// A kstatus condition of `type_`, keeping the last transition time of `old`'s condition of
/// that type while its status holds.
pub fn condition(
    old: &[Condition],
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: Timestamp,
) -> Condition {
    let status = if status { "True" } else { "False" };
    let last_transition_time = match old.iter().find(|c| c.type_ == type_) {
        Some(p) if p.status == status => p.last_transition_time.clone(),
        _ => Time(now),
    };
    Condition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: reason.to_string(),
        message: message.to_string(),
        last_transition_time,
        observed_generation: generation,
    }
}

/// Longest Event note (the apiserver takes at most 1 kB).
const MAX_NOTE_CHARS: usize = 1000;
/// Longest object name an Event can be named after: it is named `<object>.<hex time>` (kube's
/// Recorder's scheme), and names hold at most 253 characters.
const LONGEST_NAME_FOR_EVENT: usize = 253 - 17;

/// Publishes Events about this operator's objects, whatever the length of their names.
///
/// Not kube's `Recorder`: it keeps every Event it published for six minutes (about 3 KiB each) to
/// count a repeat as a series, 3 MiB of the controller's memory right after 1,000 recoveries
/// start (docs/benchmarks.md). This operator announces a phase change once and an unchanged
/// error once every ten minutes, so no series would ever form; each Event is created on its own.
#[derive(Clone)]
pub struct Events {
    client: Client,
    reporter: Reporter,
}

impl Events {
    /// Events reported by `controller` (a field manager name) from replica `instance`.
    pub fn new(client: Client, controller: &str, instance: &str) -> Events {
        let reporter = Reporter {
            controller: controller.to_string(),
            instance: Some(instance.to_string()),
        };
        Events { client, reporter }
    }

    /// Publishes an Event about `regarding`; a refusal is logged, never an error: Events are
    /// for people, and the reconcile must not fail over one.
    pub async fn publish(
        &self,
        regarding: ObjectReference,
        type_: EventType,
        reason: &str,
        action: &str,
        note: &str,
    ) {
        let namespace = regarding.namespace.clone();
        let body = event(
            &self.reporter,
            regarding,
            type_,
            reason,
            action,
            note,
            Timestamp::now(),
        );
        let result = Api::<EventObject>::namespaced(
            self.client.clone(),
            namespace.as_deref().unwrap_or("default"),
        )
        .create(&PostParams::default(), &body)
        .await;
        if let Err(e) = result {
            warn!(error = %e, "cannot publish an Event");
        }
    }
}

/// The Event object, named after `regarding` (shortened when its name is too long to carry the
/// time as well) and the time, as kube's Recorder names them.
fn event(
    reporter: &Reporter,
    regarding: ObjectReference,
    type_: EventType,
    reason: &str,
    action: &str,
    note: &str,
    now: Timestamp,
) -> EventObject {
    let object = regarding.name.as_deref().unwrap_or(&reporter.controller);
    let name = format!(
        "{}.{:x}",
        crate::contract::shorten(object, LONGEST_NAME_FOR_EVENT),
        now.as_nanosecond()
    );
    EventObject {
        metadata: ObjectMeta {
            name: Some(name),
            namespace: regarding.namespace.clone(),
            ..Default::default()
        },
        action: Some(action.to_string()),
        reason: Some(reason.to_string()),
        note: Some(note.chars().take(MAX_NOTE_CHARS).collect()),
        event_time: Some(MicroTime(now)),
        regarding: Some(regarding),
        reporting_controller: Some(reporter.controller.clone()),
        reporting_instance: reporter.instance.clone(),
        type_: Some(
            match type_ {
                EventType::Normal => "Normal",
                EventType::Warning => "Warning",
            }
            .into(),
        ),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_named_after_its_object_and_time_within_the_longest_name() {
        let reporter = Reporter {
            controller: "digital-recovery".into(),
            instance: Some("pod-1".into()),
        };
        let about = |name: &str| ObjectReference {
            name: Some(name.into()),
            namespace: Some("tenant-a".into()),
            ..Default::default()
        };
        let now = Timestamp::from_second(1_800_000_000).expect("time");
        let short = event(
            &reporter,
            about("nightly"),
            EventType::Warning,
            "Failed",
            "Reconcile",
            &"x".repeat(1_500),
            now,
        );
        assert_eq!(
            short.metadata.name.as_deref(),
            Some(format!("nightly.{:x}", now.as_nanosecond()).as_str())
        );
        assert_eq!(short.metadata.namespace.as_deref(), Some("tenant-a"));
        assert_eq!(short.type_.as_deref(), Some("Warning"));
        assert_eq!(short.note.map(|n| n.len()), Some(MAX_NOTE_CHARS));
        assert_eq!(short.reporting_instance.as_deref(), Some("pod-1"));
        let longest = "a".repeat(253);
        let long = event(
            &reporter,
            about(&longest),
            EventType::Normal,
            "Succeeded",
            "Reconcile",
            "done",
            now,
        );
        let name = long.metadata.name.expect("a name");
        assert!(name.len() <= 253, "{}", name.len());
        assert_eq!(
            long.regarding.and_then(|r| r.name).as_deref(),
            Some(longest.as_str())
        );
    }

    #[test]
    fn a_condition_keeps_its_transition_time_while_its_status_holds() {
        let t0 = Timestamp::from_second(1_000).expect("time");
        let t1 = Timestamp::from_second(2_000).expect("time");
        let first = condition(&[], "Ready", false, "Pending", "waiting", Some(1), t0);
        assert_eq!(first.last_transition_time, Time(t0));
        let same = condition(
            std::slice::from_ref(&first),
            "Ready",
            false,
            "Pending",
            "still",
            Some(2),
            t1,
        );
        assert_eq!(same.last_transition_time, Time(t0));
        assert_eq!(
            (same.message.as_str(), same.observed_generation),
            ("still", Some(2))
        );
        let flipped = condition(&[same], "Ready", true, "Succeeded", "done", Some(2), t1);
        assert_eq!(
            (flipped.status.as_str(), flipped.last_transition_time),
            ("True", Time(t1))
        );
    }

    #[test]
    fn only_errors_that_can_pass_are_transient() {
        let api = |code: u16| {
            kube::Error::Api(
                kube::core::Status::failure("x", "y")
                    .with_code(code)
                    .boxed(),
            )
        };
        assert!(is_transient(&api(429)));
        assert!(is_transient(&api(503)));
        assert!(!is_transient(&api(403)));
        assert!(!is_transient(&api(404)));
        assert_eq!(api_message(&api(403)), "x (403)");
    }
}
