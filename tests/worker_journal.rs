//! The shard's journal in its ConfigMap on a real kube-apiserver: each write adds a part with
//! only its own entries, a retried shard reads every part (and the single key earlier versions
//! wrote), a journal left by an earlier recovery of the same name is removed rather than
//! believed, and a journal that would outgrow the object limit refuses without writing.

mod support;

use std::collections::{BTreeSet, HashMap};
use std::io::Write;

use k8s_openapi::{ByteString, api::core::v1::ConfigMap};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{DeleteParams, PostParams},
};
use serde_json::json;
use support::ControlPlane;
use uuid::Uuid;

use digital_recovery::api::DigitalRecovery;
use digital_recovery::contract::{JOURNAL_KEY, journal_name};
use digital_recovery::pipeline::journal::{Journal, JournalError};
use digital_recovery::worker::ConfigMapJournal;

const NS: &str = "default";

async fn create_recovery(client: &Client, name: &str) -> DigitalRecovery {
    let dr: DigitalRecovery = serde_json::from_value(json!({
        "apiVersion": "recovery.cxops.io/v1alpha1",
        "kind": "DigitalRecovery",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "tenant": "demo",
            "genesys": {"apiBaseUrl": "http://127.0.0.1:9", "credentialsSecret": "sim"},
            "recordingSide": {"dasUrl": "http://127.0.0.1:9", "captureUrl": "http://127.0.0.1:9", "credentialsSecret": "sim"},
            "window": {"start": "2026-11-01T00:00:00Z", "end": "2026-11-02T00:00:00Z"},
            "mediaTypes": ["chat"],
            "parallelism": 2
        }
    }))
    .expect("recovery");
    Api::<DigitalRecovery>::namespaced(client.clone(), NS)
        .create(&PostParams::default(), &dr)
        .await
        .expect("create the recovery")
}

async fn journal_map(client: &Client, recovery: &str, shard: u32) -> ConfigMap {
    Api::<ConfigMap>::namespaced(client.clone(), NS)
        .get(&journal_name(recovery, shard))
        .await
        .expect("the journal ConfigMap")
}

fn keys(cm: &ConfigMap) -> BTreeSet<String> {
    cm.binary_data
        .iter()
        .flatten()
        .map(|(k, _)| k.clone())
        .collect()
}

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n * 0x9e37_79b9_7f4a_7c15)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_grows_a_part_per_write_and_a_retry_reads_them_all() {
    let cp = ControlPlane::start().await;
    let client = cp.client().await;
    support::crds::install(&client).await;
    let dr = create_recovery(&client, "journaled").await;

    // First attempt: nothing earlier; two writes, and a repeat that writes nothing.
    let journal = ConfigMapJournal::open(&client, &dr, 0).await.expect("open");
    assert!(journal.earlier().is_empty());
    journal.record(id(1), false).await.expect("record");
    journal
        .record_all(&[(id(2), true), (id(3), false), (id(1), false)])
        .await
        .expect("record all");
    journal.record(id(3), false).await.expect("record again");
    let cm = journal_map(&client, "journaled", 0).await;
    assert_eq!(
        keys(&cm),
        BTreeSet::from(["records-0".to_string(), "records-1".to_string()])
    );
    assert_eq!(
        cm.owner_references().first().map(|o| o.uid.as_str()),
        dr.meta().uid.as_deref()
    );
    drop(journal);

    // A retry of the shard reads both parts and numbers its own after them.
    let retry = ConfigMapJournal::open(&client, &dr, 0)
        .await
        .expect("reopen");
    assert_eq!(
        retry.earlier(),
        &HashMap::from([(id(1), false), (id(2), true), (id(3), false)])
    );
    retry.record(id(2), true).await.expect("already journaled");
    retry.record(id(4), false).await.expect("record");
    assert_eq!(
        keys(&journal_map(&client, "journaled", 0).await),
        BTreeSet::from([
            "records-0".to_string(),
            "records-1".to_string(),
            "records-2".to_string()
        ])
    );
    let again = ConfigMapJournal::open(&client, &dr, 0)
        .await
        .expect("reopen");
    assert_eq!(again.earlier().len(), 4);
    assert_eq!(again.earlier().get(&id(4)), Some(&false));

    // A journal an earlier version wrote (one gzip'd key) still counts, and new parts join it.
    let mut lines = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    writeln!(lines, "{} p", id(10)).expect("write");
    writeln!(lines, "{} m", id(11)).expect("write");
    let legacy = ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some(journal_name("journaled", 1)),
            owner_references: dr.controller_owner_ref(&()).map(|o| vec![o]),
            ..Default::default()
        },
        binary_data: Some(
            [(
                JOURNAL_KEY.to_string(),
                ByteString(lines.finish().expect("gzip")),
            )]
            .into(),
        ),
        ..Default::default()
    };
    Api::<ConfigMap>::namespaced(client.clone(), NS)
        .create(&PostParams::default(), &legacy)
        .await
        .expect("create a journal of an earlier version");
    let upgraded = ConfigMapJournal::open(&client, &dr, 1).await.expect("open");
    assert_eq!(
        upgraded.earlier(),
        &HashMap::from([(id(10), true), (id(11), false)])
    );
    upgraded.record(id(12), false).await.expect("record");
    let reread = ConfigMapJournal::open(&client, &dr, 1)
        .await
        .expect("reopen");
    assert_eq!(reread.earlier().len(), 3);
    assert_eq!(
        keys(&journal_map(&client, "journaled", 1).await),
        BTreeSet::from([JOURNAL_KEY.to_string(), "records-0".to_string()])
    );

    // Past the object limit (900 KiB of 17-byte records) a write is refused, not sent; the
    // journal stays readable.
    let many: Vec<(Uuid, bool)> = (100..60_100).map(|n| (id(n), false)).collect();
    let refused = again.record_all(&many).await;
    assert!(matches!(refused, Err(JournalError::Full(_))), "{refused:?}");
    assert_eq!(
        ConfigMapJournal::open(&client, &dr, 0)
            .await
            .expect("reopen")
            .earlier()
            .len(),
        4
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_journal_of_an_earlier_recovery_of_the_same_name_is_removed_not_believed() {
    let cp = ControlPlane::start().await;
    let client = cp.client().await;
    support::crds::install(&client).await;
    let first = create_recovery(&client, "reused").await;
    let journal = ConfigMapJournal::open(&client, &first, 0)
        .await
        .expect("open");
    journal.record(id(1), false).await.expect("record");
    journal.record(id(2), true).await.expect("record");
    drop(journal);
    // Deleted and created again under the same name; this control plane runs no garbage
    // collector, so the old journal stays, as it may for a while on a real cluster.
    Api::<DigitalRecovery>::namespaced(client.clone(), NS)
        .delete("reused", &DeleteParams::default())
        .await
        .expect("delete");
    let second = create_recovery(&client, "reused").await;
    assert_ne!(first.uid(), second.uid());

    let fresh = ConfigMapJournal::open(&client, &second, 0)
        .await
        .expect("open");
    assert!(fresh.earlier().is_empty(), "{:?}", fresh.earlier());
    fresh.record(id(3), false).await.expect("record");
    let cm = journal_map(&client, "reused", 0).await;
    assert_eq!(keys(&cm), BTreeSet::from(["records-0".to_string()]));
    assert_eq!(
        cm.owner_references().first().map(|o| o.uid.as_str()),
        second.meta().uid.as_deref()
    );
    assert_eq!(
        ConfigMapJournal::open(&client, &second, 0)
            .await
            .expect("reopen")
            .earlier(),
        &HashMap::from([(id(3), false)])
    );
}
