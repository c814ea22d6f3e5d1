//! A real Kubernetes control plane for tests: `etcd` and `kube-apiserver` built from the official Go
//! modules (tests/envtest/build.sh) and started as child processes on free loopback ports.
//!
//! Each [`ControlPlane`] has its own data directory, ports, serving certificate and tokens, so any
//! number of test binaries (and tests) can run at once. Dropping it kills both processes and removes
//! the directory, also when the test panics; the processes also die with the thread that started
//! them (PR_SET_PDEATHSIG), so a killed test binary leaves nothing behind.

use std::{
    fs,
    io::Write,
    net::TcpListener,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

use kube::config::{KubeConfigOptions, Kubeconfig};

/// Token of a user in `system:masters`.
pub const ADMIN_TOKEN: &str = "admin-token-for-tests";
/// Token of a user with no RBAC bindings at all.
pub const NOBODY_TOKEN: &str = "nobody-token-for-tests";
/// User name behind [`NOBODY_TOKEN`].
pub const NOBODY_USER: &str = "nobody";

/// Directory holding kube-apiserver, kubectl and etcd, built (or found in the cache) once per process.
pub fn tools_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| built_tools("DR_ENVTEST_BIN", "tests/envtest/build.sh"))
}

/// The directory a tests/envtest build script prints on its last line (it builds into, or finds
/// in, the tool cache), or `$override_var` when set.
pub fn built_tools(override_var: &str, script: &str) -> PathBuf {
    if let Ok(dir) = std::env::var(override_var) {
        return PathBuf::from(dir);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(script);
    let out = Command::new("bash")
        .arg(&script)
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "{} failed (its message is above)",
        script.display()
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default().trim().to_string();
    assert!(
        !last.is_empty(),
        "{} printed no directory",
        script.display()
    );
    PathBuf::from(last)
}

/// Path of `kubectl` from the same build as the apiserver.
pub fn kubectl_path() -> PathBuf {
    tools_dir().join("kubectl")
}

/// A running etcd + kube-apiserver pair.
pub struct ControlPlane {
    // Field order is drop order: the apiserver goes before etcd, both before the directory.
    apiserver: KilledOnDrop,
    etcd: KilledOnDrop,
    dir: tempfile::TempDir,
    /// `https://127.0.0.1:PORT`
    pub url: String,
    kubeconfig: PathBuf,
    /// How the apiserver was started, to start it again after a crash.
    apiserver_command: Vec<String>,
    restarts: u32,
}

impl ControlPlane {
    /// Starts etcd and kube-apiserver and waits until `/readyz` answers ok.
    pub async fn start() -> ControlPlane {
        let tools = tools_dir().to_path_buf();
        // A port picked free can be taken before the process binds it; try again with new ports.
        let mut last_error = String::new();
        for _ in 0..3 {
            match Self::try_start(&tools).await {
                Ok(cp) => return cp,
                Err(e) => last_error = e,
            }
        }
        panic!("control plane did not start: {last_error}");
    }

    async fn try_start(tools: &Path) -> Result<ControlPlane, String> {
        let dir = tempfile::Builder::new()
            .prefix("dr-control-plane-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let root = dir.path();
        let (etcd_client, etcd_peer, secure_port) = (free_port(), free_port(), free_port());

        let mut etcd = spawn_logged(
            Command::new(tools.join("etcd")).args([
                "--name=test",
                &format!("--data-dir={}", root.join("etcd").display()),
                &format!("--listen-client-urls=http://127.0.0.1:{etcd_client}"),
                &format!("--advertise-client-urls=http://127.0.0.1:{etcd_client}"),
                &format!("--listen-peer-urls=http://127.0.0.1:{etcd_peer}"),
                &format!("--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}"),
                &format!("--initial-cluster=test=http://127.0.0.1:{etcd_peer}"),
                "--unsafe-no-fsync",
                "--log-level=warn",
            ]),
            &root.join("etcd.log"),
        )?;
        wait_for(
            &format!("http://127.0.0.1:{etcd_client}/health"),
            None,
            &mut etcd,
            &root.join("etcd.log"),
        )
        .await?;

        let sa_key = root.join("sa.key");
        let status = Command::new("openssl")
            .args(["genrsa", "-out"])
            .arg(&sa_key)
            .arg("2048")
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("openssl: {e}"))?;
        if !status.success() {
            return Err("openssl genrsa failed".into());
        }
        let mut tokens = fs::File::create(root.join("tokens.csv")).map_err(|e| e.to_string())?;
        writeln!(tokens, "{ADMIN_TOKEN},admin,admin-uid,\"system:masters\"")
            .and_then(|_| writeln!(tokens, "{NOBODY_TOKEN},{NOBODY_USER},nobody-uid"))
            .map_err(|e| e.to_string())?;

        let url = format!("https://127.0.0.1:{secure_port}");
        let apiserver_command: Vec<String> = [
            &format!("--etcd-servers=http://127.0.0.1:{etcd_client}"),
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            &format!("--secure-port={secure_port}"),
            &format!("--cert-dir={}", root.join("certs").display()),
            &format!("--token-auth-file={}", root.join("tokens.csv").display()),
            "--authorization-mode=RBAC",
            &format!("--service-account-key-file={}", sa_key.display()),
            &format!("--service-account-signing-key-file={}", sa_key.display()),
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--disable-admission-plugins=ServiceAccount",
            "--enable-priority-and-fairness=false",
            // The loopback address cannot back the kubernetes Service endpoints.
            "--endpoint-reconciler-type=none",
            "--v=0",
        ]
        .iter()
        .map(|a| a.to_string())
        .collect();
        let mut apiserver = spawn_logged(
            Command::new(tools.join("kube-apiserver")).args(&apiserver_command),
            &root.join("apiserver.log"),
        )?;
        wait_for(
            &format!("{url}/readyz"),
            Some(ADMIN_TOKEN),
            &mut apiserver,
            &root.join("apiserver.log"),
        )
        .await?;
        let cp = ControlPlane {
            kubeconfig: root.join("kubeconfig"),
            url,
            apiserver,
            etcd,
            dir,
            apiserver_command,
            restarts: 0,
        };
        cp.write_kubeconfig(ADMIN_TOKEN, &cp.kubeconfig.clone())?;
        Ok(cp)
    }

    /// A kubeconfig file for the admin user.
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// Writes a kubeconfig for `token` to `path`, trusting the apiserver's self-signed certificate.
    pub fn write_kubeconfig(&self, token: &str, path: &Path) -> Result<(), String> {
        use base64::Engine;
        let cert =
            fs::read(self.dir.path().join("certs/apiserver.crt")).map_err(|e| e.to_string())?;
        let ca = base64::engine::general_purpose::STANDARD.encode(cert);
        let yaml = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {url}\n    certificate-authority-data: {ca}\nusers:\n- name: user\n  user:\n    token: {token}\ncontexts:\n- name: test\n  context:\n    cluster: test\n    user: user\n    namespace: default\ncurrent-context: test\n",
            url = self.url
        );
        fs::write(path, yaml).map_err(|e| e.to_string())
    }

    /// A client acting as the admin user.
    pub async fn client(&self) -> kube::Client {
        self.client_for_token(ADMIN_TOKEN).await
    }

    /// A client acting as the user behind `token`.
    pub async fn client_for_token(&self, token: &str) -> kube::Client {
        let path = self.dir.path().join(format!("kubeconfig-{}", token.len()));
        self.write_kubeconfig(token, &path)
            .expect("write kubeconfig");
        let kubeconfig = Kubeconfig::read_from(&path).expect("read kubeconfig");
        let config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .expect("kubeconfig");
        kube::Client::try_from(config).expect("client")
    }

    /// A `kubectl` command already pointed at this control plane as admin.
    pub fn kubectl(&self) -> Command {
        let mut cmd = Command::new(kubectl_path());
        cmd.arg("--kubeconfig").arg(&self.kubeconfig);
        cmd
    }

    /// Kills the apiserver (SIGKILL, like a crashed or rebooted control-plane node), leaves it down
    /// for `down`, then starts it again on the same port, certificate and etcd, and waits until it
    /// is ready. Clients see connection errors in between and must carry on.
    pub async fn restart_apiserver(&mut self, down: Duration) {
        let _ = self.apiserver.0.kill();
        let _ = self.apiserver.0.wait();
        tokio::time::sleep(down).await;
        self.restarts += 1;
        let log = self
            .dir
            .path()
            .join(format!("apiserver-{}.log", self.restarts));
        let mut last_error = String::new();
        // The port was free when the apiserver died; another process may grab it meanwhile.
        for _ in 0..3 {
            let started = spawn_logged(
                Command::new(tools_dir().join("kube-apiserver")).args(&self.apiserver_command),
                &log,
            );
            match started {
                Ok(mut process) => {
                    match wait_for(
                        &format!("{}/readyz", self.url),
                        Some(ADMIN_TOKEN),
                        &mut process,
                        &log,
                    )
                    .await
                    {
                        Ok(()) => {
                            self.apiserver = process;
                            return;
                        }
                        Err(e) => last_error = e,
                    }
                }
                Err(e) => last_error = e,
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        panic!("the apiserver did not come back: {last_error}");
    }

    /// The apiserver's log so far (for assertion messages).
    pub fn apiserver_log(&self) -> String {
        fs::read_to_string(self.dir.path().join("apiserver.log")).unwrap_or_default()
    }
}

/// A child process that is killed and reaped when dropped (also while a test unwinds).
pub struct KilledOnDrop(pub Child);

impl Drop for KilledOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind a free loopback port")
}

/// Spawns `cmd` with stdout and stderr appended to `log`, dying with the spawning thread.
pub fn spawn_logged(cmd: &mut Command, log: &Path) -> Result<KilledOnDrop, String> {
    let out = fs::File::create(log).map_err(|e| e.to_string())?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    cmd.stdin(Stdio::null()).stdout(out).stderr(err);
    // SAFETY: prctl is async-signal-safe; it only asks the kernel to kill the child with its parent.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    cmd.spawn()
        .map(KilledOnDrop)
        .map_err(|e| format!("spawn {cmd:?}: {e}"))
}

async fn wait_for(
    url: &str,
    token: Option<&str>,
    child: &mut KilledOnDrop,
    log: &Path,
) -> Result<(), String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(2))
        .build()
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(status)) = child.0.try_wait() {
            let tail = fs::read_to_string(log).unwrap_or_default();
            let tail: String = tail
                .lines()
                .rev()
                .take(15)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            return Err(format!("{url}: process exited with {status}:\n{tail}"));
        }
        let mut req = http.get(url);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Ok(resp) = req.send().await
            && resp.status().is_success()
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{url} not ready after 60 s; see {}", log.display()));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
