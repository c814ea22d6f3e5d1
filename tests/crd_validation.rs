//! The DigitalRecovery schema, enforced by a real kube-apiserver: a valid recovery is accepted,
//! and each kind of invalid spec (on create and on update) is rejected with its own clear message.

mod support;

use kube::{
    Api,
    api::{DynamicObject, Patch, PatchParams, PostParams},
};
use serde_json::{Value, json};
use support::ControlPlane;

use digital_recovery::api::{ArchivedRecordings, DigitalRecovery, Parallelism};

fn valid(name: &str) -> Value {
    json!({
        "apiVersion": "recovery.cxops.io/v1alpha1",
        "kind": "DigitalRecovery",
        "metadata": {"name": name},
        "spec": {
            "tenant": "acme",
            "genesys": {"region": "mypurecloud.ie", "credentialsSecret": "genesys-oauth"},
            "recordingSide": {
                "dasUrl": "https://das.example",
                "captureUrl": "https://capture.example",
                "credentialsSecret": "verint-api"
            },
            "window": {"start": "2026-11-20T00:00:00Z", "end": "2026-11-21T00:00:00Z"},
            "mediaTypes": ["chat", "email", "social"],
            "mode": "Recover",
            "parallelism": 4,
            "settleDelay": "30m"
        }
    })
}

/// Sets `pointer` (a JSON pointer under the object) to `value`, or removes it when None.
fn with(mut obj: Value, pointer: &str, value: Option<Value>) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer has a parent");
    let parent = obj.pointer_mut(parent).expect("parent exists");
    let map = parent.as_object_mut().expect("parent is an object");
    match value {
        Some(v) => map.insert(key.to_string(), v),
        None => map.remove(key),
    };
    obj
}

fn rejection(result: Result<DigitalRecovery, kube::Error>, case: &str) -> String {
    match result {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422, "{case}: {status:?}");
            status.message
        }
        other => panic!("{case}: expected a 422 rejection, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_specs_are_rejected_with_clear_messages() {
    let cp = ControlPlane::start().await;
    let client = cp.client().await;
    support::crds::install(&client).await;
    let api: Api<DigitalRecovery> = Api::namespaced(client.clone(), "default");
    let create = |obj: Value| {
        let api = api.clone();
        async move {
            let dr: DigitalRecovery = match serde_json::from_value(obj.clone()) {
                Ok(dr) => dr,
                // Values our own types cannot hold (e.g. an unknown media type) go as raw JSON.
                Err(_) => {
                    let raw: Api<DynamicObject> = Api::namespaced_with(
                        api.clone().into_client(),
                        "default",
                        &kube::discovery::ApiResource::erase::<DigitalRecovery>(&()),
                    );
                    let o: DynamicObject = serde_json::from_value(obj).expect("dynamic object");
                    return raw.create(&PostParams::default(), &o).await.and_then(|o| {
                        serde_json::from_value(serde_json::to_value(o).expect("to json"))
                            .map_err(kube::Error::SerdeError)
                    });
                }
            };
            api.create(&PostParams::default(), &dr).await
        }
    };

    // A valid recovery is accepted, with the defaults filled in.
    let ok = create(valid("ok"))
        .await
        .expect("a valid recovery is accepted");
    assert!(!ok.spec.cancel);
    let mut minimal = valid("minimal");
    for field in ["mode", "parallelism", "settleDelay"] {
        minimal = with(minimal, &format!("/spec/{field}"), None);
    }
    let minimal = create(minimal).await.expect("defaults apply");
    assert_eq!(minimal.spec.parallelism, Parallelism::Auto);
    assert_eq!(minimal.spec.settle_delay, "30m");
    assert_eq!(
        minimal.spec.archived_recordings,
        ArchivedRecordings::Report,
        "archived recordings are reported unless asked otherwise"
    );
    let restoring = create(with(
        valid("restoring"),
        "/spec/archivedRecordings",
        Some(json!("Restore")),
    ))
    .await
    .expect("archivedRecordings: Restore is accepted");
    assert_eq!(
        restoring.spec.archived_recordings,
        ArchivedRecordings::Restore
    );
    let base_url = with(
        with(valid("base-url"), "/spec/genesys/region", None),
        "/spec/genesys/apiBaseUrl",
        Some(json!("http://127.0.0.1:8080")),
    );
    create(base_url)
        .await
        .expect("apiBaseUrl instead of region is accepted");
    let paced = create(with(
        valid("paced"),
        "/spec/recordingSide/requestsPerMinute",
        Some(json!(600)),
    ))
    .await
    .expect("recordingSide.requestsPerMinute is accepted");
    assert_eq!(paced.spec.recording_side.requests_per_minute, Some(600));
    // A re-drive in each of its three forms.
    let redrive = |name: &str, field: &str, value: Value| {
        with(valid(name), &format!("/spec/{field}"), Some(value))
    };
    let ids = json!([
        "5b3c2f4e-1d2a-4f6b-9a8c-0e1f2a3b4c5d",
        "0b3c2f4e-1d2a-4f6b-9a8c-0e1f2a3b4c5d"
    ]);
    let by_ids = create(redrive("by-ids", "conversationIds", ids.clone()))
        .await
        .expect("a re-drive by ids is accepted");
    assert_eq!(by_ids.spec.conversation_ids.map(|v| v.len()), Some(2));
    create(redrive(
        "by-config-map",
        "conversationIdsFrom",
        json!({"configMapName": "ids-to-redrive", "key": "ids.txt"}),
    ))
    .await
    .expect("a re-drive by ConfigMap is accepted");
    create(redrive("by-report", "retryOf", json!("acme-2026-11-20")))
        .await
        .expect("a re-drive of a recovery is accepted");
    let too_many: Vec<String> = (0..=5000u128)
        .map(|i| uuid::Uuid::from_u128(i).to_string())
        .collect();

    // (case, invalid object, text the apiserver's message must contain)
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "end equal to start",
            with(
                valid("c1"),
                "/spec/window/end",
                Some(json!("2026-11-20T00:00:00Z")),
            ),
            "window.end must be after window.start",
        ),
        (
            "end before start",
            with(
                valid("c2"),
                "/spec/window/end",
                Some(json!("2026-11-19T00:00:00Z")),
            ),
            "window.end must be after window.start",
        ),
        (
            "span over 31 days",
            with(
                valid("c3"),
                "/spec/window/end",
                Some(json!("2026-12-22T00:00:00Z")),
            ),
            "window must span at most 31 days",
        ),
        (
            "start not a timestamp",
            with(valid("c4"), "/spec/window/start", Some(json!("yesterday"))),
            "spec.window.start",
        ),
        (
            "empty mediaTypes",
            with(valid("c5"), "/spec/mediaTypes", Some(json!([]))),
            "mediaTypes must name at least one of chat, email, social",
        ),
        (
            "duplicate media type",
            with(
                valid("c6"),
                "/spec/mediaTypes",
                Some(json!(["chat", "chat"])),
            ),
            "Duplicate value: \"chat\"",
        ),
        (
            "unknown media type",
            with(
                valid("c7"),
                "/spec/mediaTypes",
                Some(json!(["chat", "voice"])),
            ),
            "Unsupported value: \"voice\"",
        ),
        (
            "messageTypes without social",
            with(
                with(valid("c7a"), "/spec/mediaTypes", Some(json!(["chat"]))),
                "/spec/messageTypes",
                Some(json!(["sms"])),
            ),
            "messageTypes narrows social messaging: add social to mediaTypes or remove messageTypes",
        ),
        (
            "messageTypes in upper case",
            with(valid("c7b"), "/spec/messageTypes", Some(json!(["SMS"]))),
            "messageTypes entries are Genesys messageType values in lower case",
        ),
        (
            "parallelism 0",
            with(valid("c8"), "/spec/parallelism", Some(json!(0))),
            "parallelism must be a number of shards between 1 and 64, or auto",
        ),
        (
            "parallelism some",
            with(valid("c9-text"), "/spec/parallelism", Some(json!("some"))),
            "parallelism must be a number of shards between 1 and 64, or auto",
        ),
        (
            "parallelism 65",
            with(valid("c9"), "/spec/parallelism", Some(json!(65))),
            "parallelism must be a number of shards between 1 and 64, or auto",
        ),
        (
            "both region and apiBaseUrl",
            with(
                valid("c10"),
                "/spec/genesys/apiBaseUrl",
                Some(json!("https://api.example")),
            ),
            "set exactly one of genesys.region and genesys.apiBaseUrl",
        ),
        (
            "neither region nor apiBaseUrl",
            with(valid("c11"), "/spec/genesys/region", None),
            "set exactly one of genesys.region and genesys.apiBaseUrl",
        ),
        (
            "unknown region",
            with(
                valid("c12"),
                "/spec/genesys/region",
                Some(json!("mypurecloud.fr")),
            ),
            "genesys.region must be one of the Genesys Cloud region domains",
        ),
        (
            "invalid Genesys secret name",
            with(
                valid("c13"),
                "/spec/genesys/credentialsSecret",
                Some(json!("Genesys_OAuth")),
            ),
            "genesys.credentialsSecret must be a valid Secret name",
        ),
        (
            "invalid recording-side secret name",
            with(
                valid("c14"),
                "/spec/recordingSide/credentialsSecret",
                Some(json!("-verint")),
            ),
            "recordingSide.credentialsSecret must be a valid Secret name",
        ),
        (
            "settleDelay not a duration",
            with(valid("c15"), "/spec/settleDelay", Some(json!("soon"))),
            "settleDelay must be a duration such as 30m, 2h or 1h30m",
        ),
        (
            "unknown mode",
            with(valid("c16"), "/spec/mode", Some(json!("Maybe"))),
            "Unsupported value: \"Maybe\"",
        ),
        (
            "unknown archivedRecordings",
            with(
                valid("c23"),
                "/spec/archivedRecordings",
                Some(json!("Delete")),
            ),
            "spec.archivedRecordings: Unsupported value: \"Delete\": supported values: \"Report\", \"Restore\"",
        ),
        (
            "apiBaseUrl not a URL",
            with(
                with(valid("c17"), "/spec/genesys/region", None),
                "/spec/genesys/apiBaseUrl",
                Some(json!("ftp://files.example")),
            ),
            "genesys.apiBaseUrl must be an absolute http or https URL",
        ),
        (
            "dasUrl not a URL",
            with(
                valid("c18"),
                "/spec/recordingSide/dasUrl",
                Some(json!("das.example")),
            ),
            "recordingSide.dasUrl must be an absolute http or https URL",
        ),
        (
            "tenant not a DNS label",
            with(valid("c19"), "/spec/tenant", Some(json!("Acme Corp"))),
            "tenant must be a DNS-1123 label",
        ),
        (
            "requestsPerMinute 0",
            with(
                valid("c20"),
                "/spec/genesys/requestsPerMinute",
                Some(json!(0)),
            ),
            "genesys.requestsPerMinute must be between 1 and 3000",
        ),
        (
            "orgRequestsPerMinute 0",
            with(
                valid("c20-org"),
                "/spec/genesys/orgRequestsPerMinute",
                Some(json!(0)),
            ),
            "genesys.orgRequestsPerMinute must be between 1 and 100000",
        ),
        (
            "recordingSide.requestsPerMinute 0",
            with(
                valid("rs-rpm-0"),
                "/spec/recordingSide/requestsPerMinute",
                Some(json!(0)),
            ),
            "recordingSide.requestsPerMinute must be between 1 and 60000",
        ),
        (
            "recordingSide.requestsPerMinute too high",
            with(
                valid("rs-rpm-high"),
                "/spec/recordingSide/requestsPerMinute",
                Some(json!(60_001)),
            ),
            "recordingSide.requestsPerMinute must be between 1 and 60000",
        ),
        (
            "worker memory not a quantity",
            with(
                valid("c21"),
                "/spec/worker",
                Some(json!({"memoryLimit": "lots"})),
            ),
            "worker.memoryLimit must be a positive Kubernetes quantity",
        ),
        (
            "worker memory zero",
            with(
                valid("c22"),
                "/spec/worker",
                Some(json!({"memoryLimit": "0Mi"})),
            ),
            "worker.memoryLimit must be a positive Kubernetes quantity",
        ),
        (
            "conversationIds not UUIDs",
            redrive("c23", "conversationIds", json!(["not-a-uuid"])),
            "must be of type uuid",
        ),
        (
            "conversationIds empty",
            redrive("c24", "conversationIds", json!([])),
            "conversationIds must name at least one conversation",
        ),
        (
            "conversationIds over 5000",
            redrive("c25", "conversationIds", json!(too_many)),
            "must have at most 5000 items",
        ),
        (
            "conversationIds and retryOf",
            with(
                redrive("c26", "conversationIds", ids.clone()),
                "/spec/retryOf",
                Some(json!("last-night")),
            ),
            "set at most one of conversationIds, conversationIdsFrom and retryOf",
        ),
        (
            "conversationIdsFrom and retryOf",
            with(
                redrive(
                    "c27",
                    "conversationIdsFrom",
                    json!({"configMapName": "ids"}),
                ),
                "/spec/retryOf",
                Some(json!("last-night")),
            ),
            "set at most one of conversationIds, conversationIdsFrom and retryOf",
        ),
        (
            "retryOf not a name",
            redrive("c28", "retryOf", json!("Last Night")),
            "retryOf must be the name of a DigitalRecovery",
        ),
        (
            "conversationIdsFrom not a ConfigMap name",
            redrive(
                "c29",
                "conversationIdsFrom",
                json!({"configMapName": "Ids_To_Redrive"}),
            ),
            "conversationIdsFrom.configMapName must be a valid ConfigMap name",
        ),
    ];
    let mut seen_messages = std::collections::BTreeSet::new();
    for (case, obj, expected) in &cases {
        let message = rejection(create(obj.clone()).await, case);
        assert!(
            message.contains(expected),
            "{case}: message {message:?} does not contain {expected:?}"
        );
        // Each rejection names only its own problem (the apiserver's note that CEL rules were
        // skipped after a schema error is not a complaint of its own).
        let complaints = [
            ": Invalid value: ",
            ": Unsupported value: ",
            ": Duplicate value: ",
            ": Too many: ",
        ]
        .iter()
        .map(|k| message.matches(k).count())
        .sum::<usize>()
            - message
                .matches("<nil>: Invalid value: null: some validation rules")
                .count();
        assert_eq!(
            complaints, 1,
            "{case}: expected exactly one complaint, got {message:?}"
        );
        seen_messages.insert(*expected);
    }
    assert!(
        seen_messages.len() >= 15,
        "{} distinct messages",
        seen_messages.len()
    );

    // Transition rules: the spec is immutable, tenant included; cancel is one-way.
    let patch = |p: Value| {
        let api = api.clone();
        async move {
            api.patch("ok", &PatchParams::default(), &Patch::Merge(&p))
                .await
        }
    };
    let updates: Vec<(&str, Value, &str)> = vec![
        (
            "tenant changed",
            json!({"spec": {"tenant": "other"}}),
            "tenant is immutable",
        ),
        (
            "window changed",
            json!({"spec": {"window": {"end": "2026-11-20T12:00:00Z"}}}),
            "window is immutable once the recovery exists",
        ),
        (
            "parallelism changed",
            json!({"spec": {"parallelism": 8}}),
            "parallelism is immutable once the recovery exists",
        ),
        (
            "mediaTypes changed",
            json!({"spec": {"mediaTypes": ["chat"]}}),
            "mediaTypes is immutable once the recovery exists",
        ),
        (
            "archivedRecordings changed",
            json!({"spec": {"archivedRecordings": "Restore"}}),
            "archivedRecordings is immutable once the recovery exists",
        ),
        (
            "secret changed",
            json!({"spec": {"genesys": {"credentialsSecret": "other"}}}),
            "genesys is immutable once the recovery exists",
        ),
        (
            "a running recovery turned into a re-drive",
            json!({"spec": {"retryOf": "last-night"}}),
            "conversationIds, conversationIdsFrom and retryOf cannot be added or removed",
        ),
    ];
    for (case, p, expected) in &updates {
        let message = rejection(patch(p.clone()).await, case);
        assert!(message.contains(expected), "{case}: {message:?}");
    }
    let cancelled = patch(json!({"spec": {"cancel": true}}))
        .await
        .expect("cancel false -> true is allowed");
    assert!(cancelled.spec.cancel);
    let message = rejection(
        patch(json!({"spec": {"cancel": false}})).await,
        "cancel reverted",
    );
    assert!(
        message.contains("cancel cannot be reverted once set to true"),
        "{message:?}"
    );

    // A re-drive's ids cannot change either.
    let message = rejection(
        api.patch(
            "by-ids",
            &PatchParams::default(),
            &Patch::Merge(
                &json!({"spec": {"conversationIds": ["5b3c2f4e-1d2a-4f6b-9a8c-0e1f2a3b4c5d"]}}),
            ),
        )
        .await,
        "conversationIds changed",
    );
    assert!(
        message.contains("conversationIds is immutable once the recovery exists"),
        "{message:?}"
    );

    // kubectl explain shows the field descriptions.
    let out = cp
        .kubectl()
        .args(["explain", "digitalrecovery.spec.parallelism"])
        .output()
        .expect("run kubectl explain");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("Number of worker shards (1 to 64)"), "{text}");
}
