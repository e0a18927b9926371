//! [`HttpPoster`]: the real [`WebhookPoster`], an HTTP(S) POST of JSON with a timeout; 429 and 5xx are
//! transient (with the server's Retry-After seconds), other 4xx are rejections.

use std::time::Duration;

use async_trait::async_trait;

use crate::ports::webhook::{WebhookError, WebhookPoster};

/// One post's deadline: a receiver slower than this is treated as down.
const TIMEOUT: Duration = Duration::from_secs(10);

pub struct HttpPoster {
    client: reqwest::Client,
}

impl HttpPoster {
    pub fn new() -> Result<Self, reqwest::Error> {
        // The workspace's TLS is rustls with ring (as kube's); make it the process default for reqwest.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .user_agent(concat!("poolshift/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { client })
    }
}

#[async_trait]
impl WebhookPoster for HttpPoster {
    async fn post(&self, url: &str, body: &serde_json::Value) -> Result<(), WebhookError> {
        let response = match self.client.post(url).json(body).send().await {
            Ok(r) => r,
            Err(e) if e.is_builder() => return Err(WebhookError::Rejected { message: e.to_string() }),
            Err(e) => return Err(WebhookError::Transient { message: e.to_string(), retry_after: None }),
        };
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let message = format!("the receiver answered {status}");
        if status.as_u16() == 429 || status.is_server_error() {
            Err(WebhookError::Transient { message, retry_after })
        } else {
            Err(WebhookError::Rejected { message })
        }
    }
}
