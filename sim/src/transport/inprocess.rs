//! A `tower::Service` that `kube::Client::new` accepts: requests go straight to the handler, no socket.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{Request, Response};
use http_body_util::BodyExt;

use crate::api::{ApiServer, Body};

#[derive(Clone)]
pub struct InProcess {
    server: ApiServer,
}

impl InProcess {
    pub fn new(server: ApiServer) -> Self {
        Self { server }
    }
}

impl tower::Service<Request<kube::client::Body>> for InProcess {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<kube::client::Body>) -> Self::Future {
        let server = self.server.clone();
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let bytes = match body.collect().await {
                Ok(c) => c.to_bytes(),
                Err(e) => {
                    return Ok(crate::api::error_response(&crate::error::ApiError::bad_request(format!(
                        "reading request body: {e}"
                    ))));
                }
            };
            Ok(server.handle(Request::from_parts(parts, bytes)).await)
        })
    }
}
