//! `helm`, built from its official Go module by tests/envtest/build-helm.sh, and the chart.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::OnceLock,
};

/// Path of the `helm` binary (built or found in the tool cache once per process).
pub fn helm_path() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        super::control_plane::built_tools("DR_HELM_BIN", "tests/envtest/build-helm.sh").join("helm")
    })
}

/// The chart's directory.
pub fn chart_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/digital-recovery")
}

/// A `helm` command with its state (cache, config, data) in a scratch directory, so nothing of
/// the user's helm setup is read or written.
pub fn helm(scratch: &Path) -> Command {
    let mut cmd = Command::new(helm_path());
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", scratch)
        .env("HELM_CACHE_HOME", scratch.join("cache"))
        .env("HELM_CONFIG_HOME", scratch.join("config"))
        .env("HELM_DATA_HOME", scratch.join("data"));
    cmd
}

/// `helm template RELEASE CHART -n NAMESPACE --set ...` (each `set` is one `--set` value, each
/// `values_file` one `-f`).
pub fn template(scratch: &Path, release: &str, namespace: &str, set: &[&str]) -> Output {
    let mut cmd = helm(scratch);
    cmd.args(["template", release])
        .arg(chart_dir())
        .args(["--namespace", namespace]);
    for s in set {
        cmd.args(["--set", s]);
    }
    cmd.output().expect("run helm template")
}

/// Rendered manifests, panicking with helm's message when rendering fails.
pub fn render(scratch: &Path, release: &str, namespace: &str, set: &[&str]) -> String {
    let out = template(scratch, release, namespace, set);
    assert!(
        out.status.success(),
        "helm template {set:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 manifests")
}

/// The rendered documents as JSON values (empty documents dropped).
pub fn documents(manifests: &str) -> Vec<serde_json::Value> {
    use serde::Deserialize;
    serde_yaml::Deserializer::from_str(manifests)
        .filter_map(|doc| {
            let v = serde_json::Value::deserialize(doc).expect("rendered YAML parses");
            (!v.is_null()).then_some(v)
        })
        .collect()
}

/// The rendered document of `kind` named `name`.
pub fn find<'a>(docs: &'a [serde_json::Value], kind: &str, name: &str) -> &'a serde_json::Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} rendered"))
}
