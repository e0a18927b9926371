//! Who hears about a run besides the terminal: Kubernetes Events (always), the cluster file's webhooks, and
//! Prometheus metrics on `--metrics-addr`. Set up before anything changes (a missing webhook variable or an
//! address in use is refused then, exit 2), flushed when the run stops.

use std::sync::Arc;
use std::time::Duration;

use super::connect::Selected;
use super::error::CliError;
use crate::config::notify::WebhookUrl;
use crate::metrics::{MetricsServer, RunMetrics};
use crate::notify::message::Origin;
use crate::notify::{FanOut, KubeEvents, RunContext, Subscription, Webhooks};
use crate::ports::Reporter;
use crate::ports::cluster::EventObject;
use crate::session::{Session, StateLocation};
use crate::webhook_client::HttpPoster;

/// How long the end of a command waits for queued Events and notifications.
const FLUSH: Duration = Duration::from_secs(10);

pub struct Notifications {
    events: Arc<KubeEvents>,
    webhooks: Option<Arc<Webhooks>>,
    /// Serves while this lives.
    _metrics: Option<MetricsServer>,
}

impl Notifications {
    /// Adds the Events, the webhooks and the metrics to the session's reporters. A webhook whose `url_env`
    /// is not set refuses the command when `strict` (upgrade, resume); an undo (`rollback`) goes on without
    /// that webhook, saying so in the log.
    pub async fn attach(
        session: &mut Session,
        selected: &Selected,
        metrics_addr: Option<&str>,
        strict: bool,
    ) -> Result<Self, CliError> {
        let subscriptions = subscriptions(selected, strict)?;
        let metrics = match metrics_addr {
            Some(addr) => {
                let m = Arc::new(RunMetrics::new());
                let server = crate::metrics::serve(addr, m.clone()).await?;
                tracing::info!(addr = %server.addr, "metrics at http://{}/metrics while the run is live", server.addr);
                Some((m, server))
            }
            None => None,
        };
        let engine = &mut session.engine;
        let checkpoint = match &selected.state {
            StateLocation::ConfigMap => Some(EventObject::ConfigMap {
                namespace: crate::kube::SYSTEM_NAMESPACE.to_string(),
                name: crate::kube::object_name(&selected.config.cluster.name, &selected.pool.name),
            }),
            StateLocation::File(_) => None,
        };
        let ctx = RunContext { pool: selected.pool.name.clone(), checkpoint, instance: engine.holder.clone() };
        let events = KubeEvents::start(engine.cluster.clone(), ctx);
        let mut reporters: Vec<Arc<dyn Reporter>> = vec![engine.reporter.clone(), events.clone()];
        let webhooks = if subscriptions.is_empty() {
            None
        } else {
            let poster = HttpPoster::new().map_err(|e| CliError::Webhooks(e.to_string()))?;
            let origin = Origin { cluster: selected.config.cluster.name.clone(), pool: selected.pool.name.clone() };
            let hooks = Webhooks::start(origin, subscriptions, Arc::new(poster), engine.clock.clone());
            reporters.push(hooks.clone());
            Some(hooks)
        };
        let server = metrics.map(|(m, server)| {
            reporters.push(m);
            server
        });
        engine.reporter = Arc::new(FanOut(reporters));
        Ok(Self { events, webhooks, _metrics: server })
    }

    /// Waits a little for the last Events and notifications to go out; the metrics endpoint stops.
    pub async fn finish(self) {
        self.events.flush(FLUSH).await;
        if let Some(w) = &self.webhooks {
            w.flush(FLUSH).await;
        }
    }
}

/// The file's webhooks with their URLs (from the environment where the file says so).
fn subscriptions(selected: &Selected, strict: bool) -> Result<Vec<Subscription>, CliError> {
    let mut out = Vec::new();
    for w in &selected.config.webhooks {
        let url = match &w.url {
            WebhookUrl::Literal(u) => u.clone(),
            WebhookUrl::Env(var) => match std::env::var(var) {
                Ok(v) if !v.trim().is_empty() => v.trim().to_string(),
                _ if strict => {
                    return Err(CliError::WebhookUrlMissing {
                        var: var.clone(),
                        file: selected.file.display().to_string(),
                    });
                }
                _ => {
                    tracing::warn!(variable = %var, "a webhook's URL variable is not set; going on without that webhook");
                    continue;
                }
            },
        };
        out.push(Subscription { url, topics: w.topics.clone() });
    }
    Ok(out)
}
