//! The test control plane is a real Kubernetes API server: CRDs install, custom objects and
//! ConfigMaps go through create / watch / server-side apply / delete, and RBAC is enforced.

mod support;

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::{
    api::core::v1::ConfigMap,
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
};
use kube::{
    Api, CustomResource, CustomResourceExt, ResourceExt,
    api::{DeleteParams, Patch, PatchParams, PostParams},
    runtime::{
        conditions,
        wait::await_condition,
        watcher::{self, Event},
    },
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use support::{ControlPlane, control_plane::NOBODY_TOKEN};

/// A throwaway kind, so this test depends on nothing but the API server.
#[derive(CustomResource, Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[kube(
    group = "envtest.cxops.io",
    version = "v1",
    kind = "Widget",
    namespaced
)]
struct WidgetSpec {
    size: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    colour: Option<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apiserver_serves_crds_configmaps_ssa_watch_and_rbac() {
    let cp = ControlPlane::start().await;
    let client = cp.client().await;

    // /version reports the pinned Kubernetes version.
    let version = client.apiserver_version().await.expect("version");
    assert_eq!(version.major, "1");
    assert_eq!(version.minor, "37", "built from k8s.io/kubernetes v1.37.x");

    // Install the CRD and wait until it is established.
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(&PostParams::default(), &Widget::crd())
        .await
        .expect("create CRD");
    let established = await_condition(
        crds.clone(),
        "widgets.envtest.cxops.io",
        conditions::is_crd_established(),
    );
    tokio::time::timeout(Duration::from_secs(30), established)
        .await
        .expect("CRD established in time")
        .expect("watch CRD");

    let widgets: Api<Widget> = Api::namespaced(client.clone(), "default");
    // Watch from the start so the test sees its own create, patch and delete.
    let mut events = watcher::watcher(widgets.clone(), watcher::Config::default()).boxed();
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), events.try_next())
            .await
            .expect("initial list in time");
        match event {
            Ok(Some(Event::InitDone)) => break,
            Ok(Some(Event::Init)) => {}
            other => panic!("unexpected event before the first object: {other:?}"),
        }
    }

    let created = widgets
        .create(
            &PostParams::default(),
            &Widget::new(
                "w1",
                WidgetSpec {
                    size: 1,
                    colour: None,
                },
            ),
        )
        .await
        .expect("create widget");
    assert_eq!(created.spec.size, 1);

    // Server-side apply from two field managers: each owns its own field.
    let ssa = |manager: &str| PatchParams::apply(manager).force();
    let patch = json!({"apiVersion": "envtest.cxops.io/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"size": 2}});
    widgets
        .patch("w1", &ssa("sizer"), &Patch::Apply(&patch))
        .await
        .expect("apply size");
    let patch = json!({"apiVersion": "envtest.cxops.io/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"size": 2, "colour": "teal"}});
    let applied = widgets
        .patch("w1", &ssa("painter"), &Patch::Apply(&patch))
        .await
        .expect("apply colour");
    assert_eq!(applied.spec.size, 2);
    assert_eq!(applied.spec.colour.as_deref(), Some("teal"));
    let managers: Vec<String> = applied
        .managed_fields()
        .iter()
        .filter_map(|f| f.manager.clone())
        .collect();
    assert!(managers.contains(&"painter".to_string()), "{managers:?}");

    widgets
        .delete("w1", &DeleteParams::default())
        .await
        .expect("delete widget");

    // The watch saw the object appear, change and go away.
    let mut seen_sizes = Vec::new();
    let mut deleted = false;
    while !deleted {
        let event = tokio::time::timeout(Duration::from_secs(10), events.try_next())
            .await
            .expect("watch event in time")
            .expect("watch stream")
            .expect("watch open");
        match event {
            Event::InitApply(w) | Event::Apply(w) => seen_sizes.push(w.spec.size),
            Event::Delete(w) => {
                assert_eq!(w.name_any(), "w1");
                deleted = true;
            }
            Event::Init | Event::InitDone => {}
        }
    }
    assert_eq!(seen_sizes.first(), Some(&1), "{seen_sizes:?}");
    assert_eq!(seen_sizes.last(), Some(&2), "{seen_sizes:?}");

    // A ConfigMap through the same motions.
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c1"}, "data": {"a": "1"}});
    configmaps
        .patch("c1", &ssa("tester"), &Patch::Apply(&cm))
        .await
        .expect("apply configmap");
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c1"}, "data": {"a": "1", "b": "2"}});
    let got = configmaps
        .patch("c1", &ssa("tester"), &Patch::Apply(&cm))
        .await
        .expect("re-apply configmap");
    assert_eq!(got.data.unwrap_or_default().len(), 2);
    configmaps
        .delete("c1", &DeleteParams::default())
        .await
        .expect("delete configmap");
    // Without finalizers, deletion is immediate.
    assert!(configmaps.get_opt("c1").await.expect("get").is_none());

    // RBAC is on: a user with no bindings is forbidden, and the error says so.
    let nobody = cp.client_for_token(NOBODY_TOKEN).await;
    let denied = Api::<ConfigMap>::namespaced(nobody.clone(), "default")
        .list(&Default::default())
        .await;
    match denied {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 403, "{status:?}"),
        other => panic!("expected 403 for an unbound user, got {other:?}"),
    }
    let denied = Api::<Widget>::namespaced(nobody, "default")
        .create(
            &PostParams::default(),
            &Widget::new(
                "w2",
                WidgetSpec {
                    size: 3,
                    colour: None,
                },
            ),
        )
        .await;
    assert!(
        matches!(&denied, Err(kube::Error::Api(s)) if s.code == 403),
        "{denied:?}"
    );

    // A real kubectl from the same build talks to it too.
    let out = cp
        .kubectl()
        .args(["get", "namespaces", "-o", "name"])
        .output()
        .expect("run kubectl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("namespace/default"));
}
