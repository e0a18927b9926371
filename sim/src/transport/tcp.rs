//! HTTP/1.1 on a loopback TCP port.

use std::net::SocketAddr;

use http::Request;
use http_body_util::BodyExt;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::api::ApiServer;

/// Accepts connections until the task is aborted.
pub fn serve(server: ApiServer, listener: TcpListener) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed");
                    continue;
                }
            };
            let server = server.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<hyper::body::Incoming>| {
                    let server = server.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let bytes = match body.collect().await {
                            Ok(c) => c.to_bytes(),
                            Err(e) => {
                                return Ok::<_, std::convert::Infallible>(crate::api::error_response(
                                    &crate::error::ApiError::bad_request(format!("reading request body: {e}")),
                                ));
                            }
                        };
                        Ok(server.handle(Request::from_parts(parts, bytes)).await)
                    }
                });
                if let Err(e) = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
            });
        }
    })
}

/// Binds `addr` (port 0 picks a free one) and returns the bound address.
pub async fn bind(addr: SocketAddr) -> std::io::Result<(TcpListener, SocketAddr)> {
    let l = TcpListener::bind(addr).await?;
    let a = l.local_addr()?;
    Ok((l, a))
}
