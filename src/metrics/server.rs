//! The `/metrics` endpoint: a small HTTP/1 server on the address `--metrics-addr` names, answering
//! `GET /metrics` with the run's metrics (and 404 otherwise), stopped when the run ends.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::RunMetrics;

#[derive(Debug, thiserror::Error)]
#[error("cannot listen for metrics on {addr}: {source}")]
pub struct ServeError {
    pub addr: String,
    #[source]
    pub source: std::io::Error,
}

/// The running endpoint; dropping it stops it.
pub struct MetricsServer {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

fn answer(metrics: &RunMetrics, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    let mut res = if req.method() == hyper::Method::GET && req.uri().path() == "/metrics" {
        let mut r = Response::new(Full::new(Bytes::from(metrics.render())));
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static(CONTENT_TYPE));
        r
    } else {
        Response::new(Full::new(Bytes::from_static(b"not found: metrics are at /metrics\n")))
    };
    if req.uri().path() != "/metrics" || req.method() != hyper::Method::GET {
        *res.status_mut() = hyper::StatusCode::NOT_FOUND;
    }
    res
}

/// Listens on `addr` (`127.0.0.1:9090`, `0.0.0.0:9090`, port 0 for any free one).
pub async fn serve(addr: &str, metrics: Arc<RunMetrics>) -> Result<MetricsServer, ServeError> {
    let err = |source| ServeError { addr: addr.to_string(), source };
    let listener = TcpListener::bind(addr).await.map_err(err)?;
    let bound = listener.local_addr().map_err(err)?;
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| {
                    let res = answer(&metrics, &req);
                    async move { Ok::<_, Infallible>(res) }
                });
                let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    Ok(MetricsServer { addr: bound, task })
}
