//! From the command line to a session: the configuration file (checked before anything is contacted), the
//! pool, the Kubernetes connection of the configured context, the run's clock, and the [`Session`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kube::config::{KubeConfigOptions, Kubeconfig};
use poolshift_provider_api::Provider;

use super::error::CliError;
use super::provider::{NotNeeded, build_provider};
use crate::config::{ClusterConfig, ConfigError, PoolConfig, ProviderConfig};
use crate::kube::LeaseLock;
use crate::ports::{Clock, Reporter, Stored};
use crate::session::{Session, StateLocation, holder_identity};
use crate::time::TokioClock;

/// A loaded configuration and the pool a command is about.
pub struct Selected {
    pub config: ClusterConfig,
    pub pool: PoolConfig,
    pub state: StateLocation,
    /// The file as given, to repeat in hints (`poolshift resume -c FILE`).
    pub file: PathBuf,
}

impl Selected {
    /// Loads `-c FILE` (or `POOLSHIFT_CONFIG`, or `./poolshift.yaml`) and picks the pool. Contacts nothing.
    pub fn load(config: Option<&Path>, pool: Option<&str>, state_file: Option<&Path>) -> Result<Self, CliError> {
        let file = ClusterConfig::locate(config)?;
        let config = ClusterConfig::load(&file)?;
        let pool = config.pool(pool)?.clone();
        let state = config.state_for(&pool.name, state_file);
        Ok(Self { config, pool, state, file })
    }

    /// `-c FILE` alone, for `status` (which shows every pool of the file and takes no `--pool`).
    pub fn file_args(&self) -> String {
        format!("-c {}", self.file.display())
    }

    /// `-c FILE --pool NAME`, for hints that tell the operator what to run next.
    pub fn args(&self) -> String {
        let mut s = format!("-c {}", self.file.display());
        if self.config.pools.len() > 1 {
            s.push_str(&format!(" --pool {}", self.pool.name));
        }
        s
    }
}

/// The cluster's API connection and the run's clock.
pub struct Connection {
    pub client: kube::Client,
    pub clock: Arc<dyn Clock>,
}

impl Connection {
    /// Connects to the configured context (`context` overrides it), and sets the clock: real time, or for the
    /// `sim` provider the simulator's own clock (its time and speed), so durations in the configuration mean
    /// the same on both sides.
    pub async fn open(config: &ClusterConfig, context: Option<&str>) -> Result<Self, CliError> {
        let client =
            client_for(config.cluster.kubeconfig.as_deref(), context.or(config.cluster.context.as_deref())).await?;
        let clock: Arc<dyn Clock> = match config.provider {
            ProviderConfig::Sim => Arc::new(simulator_clock(&client).await?),
            _ => Arc::new(TokioClock::new(1.0)),
        };
        Ok(Self { client, clock })
    }

    /// A session for `selected`'s pool; `reporter` receives the engine's events.
    pub fn session(&self, selected: &Selected, provider: Arc<dyn Provider>, reporter: Arc<dyn Reporter>) -> Session {
        let cluster = &selected.config.cluster.name;
        let pool = &selected.pool.name;
        let mut s = Session::new(
            self.client.clone(),
            provider,
            cluster,
            pool,
            selected.state.clone(),
            self.clock.clone(),
            reporter,
            &holder_identity(),
        );
        if let Some(ttl) = selected.config.lease_ttl {
            s.engine.lock =
                Arc::new(LeaseLock::new(self.client.clone(), cluster, pool, self.clock.clone()).with_ttl(ttl));
            // Long waits renew the lease every tick: well within its time to live.
            s.engine.tick = s.engine.tick.min(ttl / 3);
        }
        s
    }

    /// A session with the configured provider (for commands that run the engine or plan).
    pub async fn session_with_provider(
        &self,
        selected: &Selected,
        reporter: Arc<dyn Reporter>,
    ) -> Result<Session, CliError> {
        let provider = build_provider(&selected.config.provider, &self.client, &selected.pool).await?;
        Ok(self.session(selected, provider, reporter))
    }

    /// A session for commands that only touch the checkpoint and the lease.
    pub fn session_without_provider(&self, selected: &Selected, command: &'static str) -> Session {
        self.session(selected, Arc::new(NotNeeded { command, unavailable: None }), Arc::new(Silent))
    }

    /// A session with the configured provider if it can be built, else without one (its calls fail with
    /// the reason): for `abort`, which asks the provider what is left but must work without it.
    pub async fn session_with_provider_if_possible(&self, selected: &Selected, command: &'static str) -> Session {
        match build_provider(&selected.config.provider, &self.client, &selected.pool).await {
            Ok(provider) => self.session(selected, provider, Arc::new(Silent)),
            Err(e) => {
                tracing::warn!(error = %e, "{command}: the provider cannot be built; going on without it");
                let unavailable = Some(e.to_string());
                self.session(selected, Arc::new(NotNeeded { command, unavailable }), Arc::new(Silent))
            }
        }
    }
}

/// A kube client for `context` of `kubeconfig` (default: `KUBECONFIG` / `~/.kube/config`, then in-cluster).
pub async fn client_for(kubeconfig: Option<&Path>, context: Option<&str>) -> Result<kube::Client, CliError> {
    let bad = |e: String| CliError::KubeConfig(e);
    let options = KubeConfigOptions { context: context.map(str::to_string), ..Default::default() };
    let mut config = match (kubeconfig, context) {
        (Some(path), _) => {
            let kc = Kubeconfig::read_from(path).map_err(|e| bad(format!("reading {}: {e}", path.display())))?;
            kube::Config::from_custom_kubeconfig(kc, &options).await.map_err(|e| bad(e.to_string()))?
        }
        (None, Some(_)) => kube::Config::from_kubeconfig(&options).await.map_err(|e| bad(e.to_string()))?,
        (None, None) => kube::Config::infer().await.map_err(|e| bad(e.to_string()))?,
    };
    // kube's own retry layer would retry every 429 up to 15 times (minutes, with Retry-After): an eviction
    // refused by a budget must come back at once (the engine waits and reports; the preflight reports).
    // poolshift retries transient errors itself (`kube::retry`).
    config.default_retry = false;
    kube::Client::try_from(config).map_err(|e| bad(e.to_string()))
}

/// The simulator's clock (`GET /sim/v1/clock`): its current time, running at its speed.
async fn simulator_clock(client: &kube::Client) -> Result<TokioClock, CliError> {
    #[derive(serde::Deserialize)]
    struct SimClock {
        now: jiff::Timestamp,
        speed: f64,
    }
    let req = http::Request::get("/sim/v1/clock").body(Vec::new()).map_err(|e| CliError::SimClock(e.to_string()))?;
    let clock: SimClock = client.request(req).await.map_err(|e| {
        CliError::SimClock(format!("{e} (is this cluster a kubesim simulator? provider kind sim needs one)"))
    })?;
    Ok(TokioClock::starting_at(clock.now, clock.speed))
}

/// Drops the engine's events (commands that print their own output).
pub struct Silent;

impl Reporter for Silent {
    fn event(&self, _: &crate::ports::report::Event) {}
}

/// For `resume`, `rollback`, `pause`, `abort`: the pool named by `--pool`, the only configured pool, or else
/// the only configured pool with an unfinished run. Returns the connection too (opened once).
pub async fn select_run(
    config: Option<&Path>,
    pool: Option<&str>,
    state_file: Option<&Path>,
) -> Result<(Selected, Connection), CliError> {
    match Selected::load(config, pool, state_file) {
        Ok(selected) => {
            let conn = Connection::open(&selected.config, None).await?;
            Ok((selected, conn))
        }
        Err(CliError::Config(ConfigError::WhichPool { origin, known })) => {
            let file = ClusterConfig::locate(config)?;
            let cfg = ClusterConfig::load(&file)?;
            let conn = Connection::open(&cfg, None).await?;
            let mut unfinished = Vec::new();
            for p in &cfg.pools {
                let state = cfg.state_for(&p.name, state_file);
                let selected = Selected { config: cfg.clone(), pool: p.clone(), state, file: file.clone() };
                let session = conn.session_without_provider(&selected, "select");
                if session.engine.store.load().await?.is_some_and(|st| !st.checkpoint.finished()) {
                    unfinished.push(selected);
                }
            }
            match unfinished.len() {
                1 => Ok((unfinished.remove(0), conn)),
                _ => Err(ConfigError::WhichPool { origin, known }.into()),
            }
        }
        Err(e) => Err(e),
    }
}

/// The pool's checkpoint, or a usage error saying there is no run to act on.
pub async fn existing_run(session: &Session, action: &'static str) -> Result<Stored, CliError> {
    session.engine.store.load().await?.ok_or_else(|| CliError::NoRun {
        action,
        pool: session.pool.clone(),
        location: session.engine.store.location(),
    })
}
