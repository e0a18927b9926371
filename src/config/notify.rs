//! The `notify` section: webhooks told about a run (Slack-compatible JSON).
//!
//! ```yaml
//! notify:
//!   webhooks:
//!     - url_env: SLACK_WEBHOOK_URL          # the URL from this environment variable (a secret), or
//!     # url: https://hooks.example.com/x    # the URL itself
//!       events: [started, blocked, gate_failed, paused, done, rolled_back, failed]   # default: all but batch_done
//! ```

use std::collections::BTreeSet;

use serde::Deserialize;

use super::locate::FieldPath;
use super::validate::Problem;
use crate::notify::message::Topic;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a mapping with webhooks")]
pub struct Notify {
    #[serde(default)]
    pub webhooks: Vec<Webhook>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(expecting = "a mapping with url or url_env, and optionally events")]
pub struct Webhook {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub url_env: Option<String>,
    #[serde(default)]
    pub events: Option<Vec<Topic>>,
}

/// Where a webhook's URL comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookUrl {
    Literal(String),
    /// Read from this environment variable when a run starts.
    Env(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    pub url: WebhookUrl,
    pub topics: BTreeSet<Topic>,
}

fn url_ok(url: &str) -> bool {
    url.strip_prefix("https://").or_else(|| url.strip_prefix("http://")).is_some_and(|rest| !rest.is_empty())
}

fn env_name_ok(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase() || c == '_')
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Checks `notify` (at `path`).
pub fn resolve(path: &FieldPath, notify: Option<&Notify>) -> Result<Vec<WebhookConfig>, Problem> {
    let Some(n) = notify else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for (i, w) in n.webhooks.iter().enumerate() {
        let at = path.key("webhooks").index(i);
        let url = match (&w.url, &w.url_env) {
            (Some(_), Some(_)) => return Err((at.key("url_env"), "give url or url_env, not both".into())),
            (None, None) => {
                return Err((at, "give url (the webhook's URL) or url_env (a variable holding it)".into()));
            }
            (Some(u), None) if !url_ok(u) => {
                return Err((at.key("url"), format!("invalid URL \"{u}\": expected http://... or https://...")));
            }
            (Some(u), None) => WebhookUrl::Literal(u.clone()),
            (None, Some(v)) if !env_name_ok(v) => {
                return Err((
                    at.key("url_env"),
                    format!("invalid variable name \"{v}\": use capital letters, digits and '_' (SLACK_WEBHOOK_URL)"),
                ));
            }
            (None, Some(v)) => WebhookUrl::Env(v.clone()),
        };
        let topics = match &w.events {
            None => Topic::ALL.into_iter().filter(|t| *t != Topic::BatchDone).collect(),
            Some(list) if list.is_empty() => {
                return Err((at.key("events"), "name at least one event (or remove the webhook)".into()));
            }
            Some(list) => {
                let mut seen = BTreeSet::new();
                for (j, t) in list.iter().enumerate() {
                    if !seen.insert(*t) {
                        return Err((at.key("events").index(j), format!("{} is listed twice", t.name())));
                    }
                }
                seen
            }
        };
        out.push(WebhookConfig { url, topics });
    }
    Ok(out)
}
