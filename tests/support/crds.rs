//! Installing the operator's CRDs into a test control plane.

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{
    Api, CustomResourceExt,
    api::PostParams,
    runtime::{conditions, wait::await_condition},
};

use digital_recovery::api::{DigitalRecovery, DigitalRecoverySchedule};

/// Creates the operator's CRDs (DigitalRecovery, DigitalRecoverySchedule) and waits until they
/// are established and served.
pub async fn install(client: &kube::Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in [DigitalRecovery::crd(), DigitalRecoverySchedule::crd()] {
        let name = crd.metadata.name.clone().expect("CRD name");
        crds.create(&PostParams::default(), &crd)
            .await
            .unwrap_or_else(|e| panic!("create the {name} CRD: {e}"));
        tokio::time::timeout(
            Duration::from_secs(30),
            await_condition(crds.clone(), &name, conditions::is_crd_established()),
        )
        .await
        .expect("CRD established in time")
        .expect("watch CRD");
    }
    // Discovery can lag establishment by a moment; wait until lists succeed.
    let recoveries: Api<DigitalRecovery> = Api::all(client.clone());
    let schedules: Api<DigitalRecoverySchedule> = Api::all(client.clone());
    for _ in 0..50 {
        if recoveries.list(&Default::default()).await.is_ok()
            && schedules.list(&Default::default()).await.is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the CRDs are not served after they were established");
}
