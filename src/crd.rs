//! The CustomResourceDefinitions this operator installs, rendered as YAML.

use kube::CustomResourceExt;

use crate::api::{DigitalRecovery, DigitalRecoverySchedule};

/// Every CRD of the operator as one multi-document YAML stream, in a stable order.
pub fn all_crds_yaml() -> Result<String, serde_yaml::Error> {
    let crds = [DigitalRecovery::crd(), DigitalRecoverySchedule::crd()];
    let mut out = String::new();
    for crd in crds {
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(&crd)?);
    }
    Ok(out)
}
