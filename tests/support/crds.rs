//! Installing the operator's CRDs into a test control plane.

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{
    Api, CustomResourceExt,
    api::PostParams,
    runtime::{conditions, wait::await_condition},
};

use digital_recovery::api::DigitalRecovery;

/// Creates the DigitalRecovery CRD and waits until it is established and served.
pub async fn install(client: &kube::Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = DigitalRecovery::crd();
    let name = crd.metadata.name.clone().expect("CRD name");
    crds.create(&PostParams::default(), &crd)
        .await
        .expect("create the DigitalRecovery CRD");
    tokio::time::timeout(
        Duration::from_secs(30),
        await_condition(crds, &name, conditions::is_crd_established()),
    )
    .await
    .expect("CRD established in time")
    .expect("watch CRD");
    // Discovery can lag establishment by a moment; wait until a list succeeds.
    let api: Api<DigitalRecovery> = Api::all(client.clone());
    for _ in 0..50 {
        if api.list(&Default::default()).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("DigitalRecovery not served after the CRD was established");
}
