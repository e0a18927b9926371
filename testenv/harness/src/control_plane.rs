//! Starting, sharing and stopping the control plane.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::Api;
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::files::Files;
use crate::process::{Proc, tail};
use crate::{Binaries, TestenvError, health, pki, ports};

/// How long one component may take to become healthy (a safety net on a loaded 2-core machine).
const HEALTH_LIMIT: Duration = Duration::from_secs(180);
/// Marks a run folder whose logs are kept (a failed test's).
const KEEP_MARKER: &str = "KEEP";

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Folder under which the run folder is made (default: `$POOLSHIFT_TESTENV_WORK`, else the temp dir).
    pub work_dir: Option<PathBuf>,
}

/// A running control plane. Dropping it stops every process and removes its folder, unless a test failed
/// ([`ControlPlane::keep_logs`]), in which case the folder (logs, audit log, kubeconfig) stays and its path is
/// printed.
pub struct ControlPlane {
    dir: PathBuf,
    files: Files,
    binaries: Binaries,
    server: String,
    token: String,
    procs: Mutex<Vec<Proc>>,
    started_in: Duration,
}

fn run_root(opts: &Options) -> PathBuf {
    opts.work_dir
        .clone()
        .or_else(|| std::env::var_os("POOLSHIFT_TESTENV_WORK").map(PathBuf::from))
        .unwrap_or_else(std::env::temp_dir)
        .join("poolshift-testenv")
}

/// Removes run folders of processes that are gone, except kept ones (those go after three days).
fn collect_garbage(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.split('-').next().and_then(|p| p.parse::<u32>().ok()) else { continue };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let keep = e.path().join(KEEP_MARKER);
        let old = keep
            .metadata()
            .and_then(|m| m.modified())
            .map(|t| t.elapsed().unwrap_or_default() > Duration::from_secs(3 * 86_400))
            .unwrap_or(true);
        if old {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

impl ControlPlane {
    /// The control plane of this test process, started on first use and shared by its tests (each in its
    /// own [`crate::Scope`]). Panics, naming what is missing, when it cannot start.
    pub fn shared() -> &'static ControlPlane {
        static SHARED: OnceLock<ControlPlane> = OnceLock::new();
        SHARED.get_or_init(|| ControlPlane::start(Options::default()).unwrap_or_else(|e| panic!("{e}")))
    }

    /// Starts a control plane and waits until every component is healthy. Blocking; callable from async
    /// code too (the waiting runs on a thread of its own).
    pub fn start(opts: Options) -> Result<ControlPlane, TestenvError> {
        std::thread::scope(|s| {
            s.spawn(|| {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| {
                    TestenvError::Spawn { component: "tokio runtime", binary: PathBuf::new(), source: e }
                })?;
                rt.block_on(Self::start_async(opts))
            })
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }

    async fn start_async(opts: Options) -> Result<ControlPlane, TestenvError> {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let began = Instant::now();
        let binaries = Binaries::locate()?;
        let root = run_root(&opts);
        collect_garbage(&root);
        let dir = root.join(format!("{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed)));
        std::fs::create_dir_all(&dir).map_err(|source| TestenvError::Write { path: dir.clone(), source })?;
        let pki = pki::generate()?;
        let [etcd_client, etcd_peer, api, cm, sched, kwok] =
            [ports::free()?, ports::free()?, ports::free()?, ports::free()?, ports::free()?, ports::free()?];
        let server = format!("https://127.0.0.1:{api}");
        let files = Files::create(&dir, &pki, &server)?;
        let mut cp = ControlPlane {
            dir,
            files,
            binaries,
            server,
            token: pki.admin_token.clone(),
            procs: Mutex::new(Vec::new()),
            started_in: Duration::ZERO,
        };
        match cp.boot(etcd_client, etcd_peer, api, cm, sched, kwok).await {
            Ok(()) => {
                cp.started_in = began.elapsed();
                Ok(cp)
            }
            Err(e) => {
                cp.keep_logs();
                Err(e)
            }
        }
    }

    async fn boot(
        &self,
        etcd_client: u16,
        etcd_peer: u16,
        api: u16,
        cm: u16,
        sched: u16,
        kwok: u16,
    ) -> Result<(), TestenvError> {
        let f = &self.files;
        let s = |p: &Path| p.display().to_string();
        let etcd_url = format!("http://127.0.0.1:{etcd_client}");
        let peer_url = format!("http://127.0.0.1:{etcd_peer}");
        self.spawn(
            "etcd",
            &[
                "--name=testenv".into(),
                format!("--data-dir={}", s(&f.etcd_data)),
                format!("--listen-client-urls={etcd_url}"),
                format!("--advertise-client-urls={etcd_url}"),
                format!("--listen-peer-urls={peer_url}"),
                format!("--initial-advertise-peer-urls={peer_url}"),
                format!("--initial-cluster=testenv={peer_url}"),
                // A throwaway cluster: no fsync (much faster on shared disks), no metrics listener of its own.
                "--unsafe-no-fsync=true".into(),
                "--log-level=warn".into(),
            ],
        )?;
        self.wait_for("etcd", || async {
            health::get(etcd_client, "/health").and_then(|b| if b.contains("true") { Ok(()) } else { Err(b) })
        })
        .await?;

        self.spawn(
            "kube-apiserver",
            &[
                format!("--etcd-servers={etcd_url}"),
                "--bind-address=127.0.0.1".into(),
                "--advertise-address=127.0.0.1".into(),
                format!("--secure-port={api}"),
                format!("--cert-dir={}", s(&self.dir.join("cert-dir"))),
                format!("--tls-cert-file={}", s(&f.server_cert)),
                format!("--tls-private-key-file={}", s(&f.server_key)),
                format!("--token-auth-file={}", s(&f.tokens)),
                "--authorization-mode=RBAC".into(),
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
                format!("--service-account-key-file={}", s(&f.sa_pub)),
                format!("--service-account-signing-key-file={}", s(&f.sa_key)),
                "--service-cluster-ip-range=10.96.0.0/16".into(),
                "--endpoint-reconciler-type=none".into(),
                format!("--audit-policy-file={}", s(&f.audit_policy)),
                format!("--audit-log-path={}", s(&f.audit_log)),
                "--audit-log-format=json".into(),
                "--audit-log-mode=blocking".into(),
                "--allow-privileged=true".into(),
                "--profiling=false".into(),
            ],
        )?;
        let client = self.client().await?;
        self.wait_for("kube-apiserver", || {
            let client = client.clone();
            async move {
                let req = http::Request::get("/readyz").body(Vec::new()).map_err(|e| e.to_string())?;
                client.request_text(req).await.map(|_| ()).map_err(|e| e.to_string())
            }
        })
        .await?;

        let kubeconfig = s(&f.kubeconfig);
        self.spawn(
            "kube-controller-manager",
            &[
                format!("--kubeconfig={kubeconfig}"),
                format!("--authentication-kubeconfig={kubeconfig}"),
                format!("--authorization-kubeconfig={kubeconfig}"),
                "--bind-address=127.0.0.1".into(),
                format!("--secure-port={cm}"),
                format!("--service-account-private-key-file={}", s(&f.sa_key)),
                format!("--root-ca-file={}", s(&f.ca)),
                "--leader-elect=true".into(),
                "--cluster-name=testenv".into(),
                // Controllers create and delete thousands of pods in the benchmarks: client limits well above the
                // defaults (20/30), as production control planes configure them.
                "--kube-api-qps=200".into(),
                "--kube-api-burst=400".into(),
                "--profiling=false".into(),
            ],
        )?;
        self.spawn(
            "kube-scheduler",
            &[
                format!("--kubeconfig={kubeconfig}"),
                format!("--authentication-kubeconfig={kubeconfig}"),
                format!("--authorization-kubeconfig={kubeconfig}"),
                "--bind-address=127.0.0.1".into(),
                format!("--secure-port={sched}"),
                "--leader-elect=true".into(),
                "--kube-api-qps=200".into(),
                "--kube-api-burst=400".into(),
                "--profiling=false".into(),
            ],
        )?;
        self.spawn(
            "kwok",
            &[
                format!("--kubeconfig={kubeconfig}"),
                format!("--config={}", s(&f.kwok_config)),
                format!("--manage-nodes-with-annotation-selector={}=fake", crate::stages::KWOK_NODE_ANNOTATION),
                format!("--server-address=127.0.0.1:{kwok}"),
                "--node-lease-duration-seconds=40".into(),
                "--cidr=10.244.0.0/16".into(),
                "--node-ip=10.250.0.1".into(),
            ],
        )?;
        for (component, lease) in
            [("kube-controller-manager", "kube-controller-manager"), ("kube-scheduler", "kube-scheduler")]
        {
            let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
            self.wait_for(component, || {
                let leases = leases.clone();
                async move {
                    match leases.get_opt(lease).await {
                        Ok(Some(l)) if l.spec.as_ref().and_then(|s| s.holder_identity.as_ref()).is_some() => Ok(()),
                        Ok(_) => Err(format!("no holder of Lease kube-system/{lease} yet")),
                        Err(e) => Err(e.to_string()),
                    }
                }
            })
            .await?;
        }
        self.wait_for("kwok", || async { health::get(kwok, "/healthz").map(|_| ()) }).await?;
        // The ServiceAccount controller has run: pods can be admitted in the default namespace.
        let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
        self.wait_for("kube-controller-manager", || {
            let sas = sas.clone();
            async move {
                match sas.get_opt("default").await {
                    Ok(Some(_)) => Ok(()),
                    Ok(None) => Err("no ServiceAccount default/default yet".to_string()),
                    Err(e) => Err(e.to_string()),
                }
            }
        })
        .await
    }

    fn spawn(&self, component: &'static str, args: &[String]) -> Result<(), TestenvError> {
        let p = Proc::spawn(component, &self.binaries.path(component), args, &self.files.logs)?;
        self.procs.lock().unwrap_or_else(|p| p.into_inner()).push(p);
        Ok(())
    }

    /// Polls `check` until it succeeds; fails early when the component's process exits.
    async fn wait_for<F, Fut>(&self, component: &'static str, check: F) -> Result<(), TestenvError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<(), String>>,
    {
        let start = Instant::now();
        let log = self.files.logs.join(format!("{component}.log"));
        loop {
            let last = match check().await {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            {
                let mut procs = self.procs.lock().unwrap_or_else(|p| p.into_inner());
                for p in procs.iter_mut() {
                    if let Some(status) = p.exited() {
                        return Err(TestenvError::Exited {
                            component: p.component,
                            status,
                            log: p.log.clone(),
                            tail: p.tail(),
                        });
                    }
                }
            }
            if start.elapsed() > HEALTH_LIMIT {
                return Err(TestenvError::NotHealthy {
                    component,
                    seconds: HEALTH_LIMIT.as_secs(),
                    last,
                    tail: tail(&log, 30),
                    log,
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// A client of the API server as the admin (group system:masters).
    pub async fn client(&self) -> Result<kube::Client, TestenvError> {
        let path = &self.files.kubeconfig;
        let bad = |message: String| TestenvError::Kubeconfig { path: path.clone(), message };
        let kc = Kubeconfig::read_from(path).map_err(|e| bad(e.to_string()))?;
        let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .map_err(|e| bad(e.to_string()))?;
        kube::Client::try_from(config)
            .map_err(|source| TestenvError::Kube { operation: "build a client".into(), source })
    }

    /// The admin kubeconfig (a file; kubectl and poolshift take it with `--kubeconfig` or `KUBECONFIG`).
    pub fn kubeconfig(&self) -> &Path {
        &self.files.kubeconfig
    }

    /// A kubeconfig for poolshift itself: its requests carry the user [`crate::POOLSHIFT_USER`] in the audit
    /// log (group system:masters; the RBAC tests use a ServiceAccount instead).
    pub fn poolshift_kubeconfig(&self) -> &Path {
        &self.files.poolshift_kubeconfig
    }

    /// Writes a kubeconfig for another identity's bearer token (a ServiceAccount's, from a TokenRequest).
    pub fn kubeconfig_for(&self, user: &str, token: &str, path: &Path) -> Result<(), TestenvError> {
        crate::files::write(path, &crate::files::kubeconfig(&self.server, &self.files.ca, user, token))
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    pub fn admin_token(&self) -> &str {
        &self.token
    }

    /// The API server's audit log: one JSON event per request (Metadata level).
    pub fn audit_log(&self) -> &Path {
        &self.files.audit_log
    }

    /// The folder of the components' logs.
    pub fn logs(&self) -> &Path {
        &self.files.logs
    }

    pub fn binaries(&self) -> &Binaries {
        &self.binaries
    }

    /// The built kubectl, pointed at this control plane, with its own cache folder.
    pub fn kubectl(&self) -> Command {
        let mut c = Command::new(self.binaries.path("kubectl"));
        c.arg("--kubeconfig").arg(&self.files.kubeconfig).arg("--cache-dir").arg(self.dir.join("kubectl-cache"));
        c.stdin(Stdio::null());
        c
    }

    /// How long `start` took.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// Resident memory of each component now, in bytes.
    pub fn memory(&self) -> Vec<(&'static str, u64)> {
        let procs = self.procs.lock().unwrap_or_else(|p| p.into_inner());
        procs.iter().map(|p| (p.component, p.rss_bytes().unwrap_or(0))).collect()
    }

    /// Keeps the run folder (logs, audit log, kubeconfig) after the process ends; prints where it is.
    pub fn keep_logs(&self) {
        let _ = std::fs::write(self.dir.join(KEEP_MARKER), "kept because a test failed\n");
        eprintln!("testenv: control plane logs kept in {}", self.files.logs.display());
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        let mut procs = self.procs.lock().unwrap_or_else(|p| p.into_inner());
        while let Some(p) = procs.pop() {
            drop(p);
        }
        if std::thread::panicking() {
            self.keep_logs();
        }
        if !self.dir.join(KEEP_MARKER).exists() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
