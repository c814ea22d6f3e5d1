//! Reading a DigitalRecovery manifest from a file for `digital-recovery recover`, and finding its
//! credentials without a cluster: files laid out like a mounted Secret volume, or environment
//! variables. Every error names the field or file at fault, so the command can print one clear line.

use std::path::{Path, PathBuf};

use crate::api::{DigitalRecovery, InvalidSpec};
use crate::http::{ClientCredentials, Secret};

/// Why a manifest cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {field}: {message}")]
    Parse {
        path: PathBuf,
        field: String,
        message: String,
    },
    #[error(
        "{path}: kind must be DigitalRecovery (apiVersion recovery.cxops.io/v1alpha1), found {found}"
    )]
    WrongKind { path: PathBuf, found: String },
    #[error(transparent)]
    Invalid(#[from] InvalidSpec),
    #[error("credentials for Secret {secret:?}: {key} not found (looked in {looked})")]
    MissingCredential {
        secret: String,
        key: &'static str,
        looked: String,
    },
}

/// Reads and validates a DigitalRecovery manifest.
pub fn load(path: &Path) -> Result<DigitalRecovery, ManifestError> {
    let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text)
}

/// Parses and validates manifest text; `path` only names the source in errors.
pub fn parse(path: &Path, text: &str) -> Result<DigitalRecovery, ManifestError> {
    let value: serde_yaml::Value =
        serde_yaml::from_str(text).map_err(|e| ManifestError::Parse {
            path: path.to_path_buf(),
            field: "(document)".into(),
            message: e.to_string(),
        })?;
    let kind = value
        .get("kind")
        .and_then(|k| k.as_str())
        .unwrap_or("nothing");
    let api_version = value
        .get("apiVersion")
        .and_then(|k| k.as_str())
        .unwrap_or("");
    if kind != "DigitalRecovery" || api_version != "recovery.cxops.io/v1alpha1" {
        return Err(ManifestError::WrongKind {
            path: path.to_path_buf(),
            found: format!("{api_version}/{kind}"),
        });
    }
    let recovery: DigitalRecovery =
        serde_path_to_error::deserialize(value).map_err(|e| ManifestError::Parse {
            path: path.to_path_buf(),
            field: e.path().to_string(),
            message: e.inner().to_string(),
        })?;
    // The rules the API server enforces with schema and CEL, checked again: a manifest given to
    // `recover` never went through an API server.
    recovery.spec.validate()?;
    Ok(recovery)
}

/// Where `recover` looks for the credentials a Secret name stands for.
#[derive(Clone, Debug, Default)]
pub struct CredentialSource {
    /// A directory with `<secret>/clientId` and `<secret>/clientSecret` files.
    pub secrets_dir: Option<PathBuf>,
}

impl CredentialSource {
    /// Finds the credentials of Secret `secret`: files first, then `<SECRET>_CLIENT_ID` /
    /// `<SECRET>_CLIENT_SECRET` environment variables.
    pub fn resolve(&self, secret: &str) -> Result<ClientCredentials, ManifestError> {
        let env_prefix: String = secret
            .chars()
            .map(|c| match c {
                '-' | '.' => '_',
                c => c.to_ascii_uppercase(),
            })
            .collect();
        let read = |key: &'static str, env_suffix: &str| -> Result<String, ManifestError> {
            let env_name = format!("{env_prefix}_{env_suffix}");
            let mut looked = Vec::new();
            if let Some(dir) = &self.secrets_dir {
                let file = dir.join(secret).join(key);
                if let Ok(value) = std::fs::read_to_string(&file) {
                    let value = value.trim_end_matches(['\n', '\r']).to_string();
                    if !value.is_empty() {
                        return Ok(value);
                    }
                }
                looked.push(file.display().to_string());
            }
            if let Ok(value) = std::env::var(&env_name)
                && !value.is_empty()
            {
                return Ok(value);
            }
            looked.push(format!("${env_name}"));
            Err(ManifestError::MissingCredential {
                secret: secret.to_string(),
                key,
                looked: looked.join(", "),
            })
        };
        let client_id = read("clientId", "CLIENT_ID")?;
        let client_secret = Secret::new(read("clientSecret", "CLIENT_SECRET")?);
        Ok(ClientCredentials {
            client_id,
            client_secret,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
apiVersion: recovery.cxops.io/v1alpha1
kind: DigitalRecovery
metadata: {name: acme, namespace: tenant-acme}
spec:
  tenant: acme
  genesys: {region: mypurecloud.ie, credentialsSecret: genesys-oauth}
  recordingSide: {dasUrl: "https://das.example", captureUrl: "https://capture.example", credentialsSecret: verint-api}
  window: {start: "2026-11-20T00:00:00Z", end: "2026-11-21T00:00:00Z"}
  mediaTypes: [chat, email, social]
"#;

    fn err(text: &str) -> String {
        match parse(Path::new("r.yaml"), text) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn good_manifest_parses_with_defaults() {
        let dr = parse(Path::new("r.yaml"), GOOD).unwrap();
        assert_eq!(dr.spec.parallelism, crate::api::Parallelism::Auto);
        assert_eq!(
            dr.spec.archived_recordings,
            crate::api::ArchivedRecordings::Report
        );
        let restoring = GOOD.replace(
            "  mediaTypes",
            "  archivedRecordings: Restore\n  mediaTypes",
        );
        let dr = parse(Path::new("r.yaml"), &restoring).unwrap();
        assert_eq!(
            dr.spec.validate().unwrap().archived_recordings,
            crate::api::ArchivedRecordings::Restore
        );
        assert_eq!(
            dr.spec.validate().unwrap().settle_delay(),
            jiff::SignedDuration::from_mins(30)
        );
    }

    #[test]
    fn errors_name_the_field() {
        let e = err(&GOOD.replace("[chat, email, social]", "[chat, fax]"));
        assert!(e.contains("spec.mediaTypes[1]") && e.contains("fax"), "{e}");
        let e = err(&GOOD.replace("end: \"2026-11-21", "end: \"2026-11-19"));
        assert!(
            e.contains("spec.window") && e.contains("after start"),
            "{e}"
        );
        let e = err(&GOOD.replace("end: \"2026-11-21", "end: \"2026-12-29"));
        assert!(e.contains("31 days"), "{e}");
        let e = err(&GOOD.replace("mypurecloud.ie", "example.org"));
        assert!(e.contains("spec.genesys.region"), "{e}");
        let e = err(&GOOD.replace("tenant: acme", "tenant: [acme]"));
        assert!(e.contains("spec.tenant"), "{e}");
        let e = err(&GOOD.replace("kind: DigitalRecovery", "kind: ConfigMap"));
        assert!(e.contains("kind must be DigitalRecovery"), "{e}");
        let e = err(&GOOD.replace("  mediaTypes", "  settleDelay: soon\n  mediaTypes"));
        assert!(e.contains("spec.settleDelay"), "{e}");
        let e = err(&GOOD.replace("  mediaTypes", "  archivedRecordings: Delete\n  mediaTypes"));
        assert!(
            e.contains("spec.archivedRecordings") && e.contains("`Report` or `Restore`"),
            "{e}"
        );
        let e = err("spec: [unclosed");
        assert!(e.contains("r.yaml"), "{e}");
    }

    #[test]
    fn credentials_come_from_files_then_env_and_never_print() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("genesys-oauth")).unwrap();
        std::fs::write(dir.path().join("genesys-oauth/clientId"), "id-1\n").unwrap();
        std::fs::write(
            dir.path().join("genesys-oauth/clientSecret"),
            "s3cret-value",
        )
        .unwrap();
        let source = CredentialSource {
            secrets_dir: Some(dir.path().to_path_buf()),
        };
        let creds = source.resolve("genesys-oauth").unwrap();
        assert_eq!(creds.client_id, "id-1");
        assert_eq!(creds.client_secret.expose(), "s3cret-value");
        assert!(!format!("{creds:?}").contains("s3cret-value"));

        let missing = source
            .resolve("dr-test-no-such.secret")
            .unwrap_err()
            .to_string();
        assert!(missing.contains("clientId"), "{missing}");
        assert!(
            missing.contains("$DR_TEST_NO_SUCH_SECRET_CLIENT_ID"),
            "{missing}"
        );
    }
}
