//! Plain HTTP mode (`POST /chatkit`) for containers, benchmarks and local frontends: the same
//! gateway as on Lambda, served by hyper. A client that disconnects cancels its stream.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::gateway::Gateway;
use crate::responses::ResponseBody;

/// Paths answered in local mode.
pub const PATHS: &[&str] = &["/chatkit", "/chatkit/"];

async fn route(gateway: Arc<Gateway>, request: Request<Incoming>) -> Response<ResponseBody> {
    let request_id = ulid::Ulid::new().to_string();
    let path = request.uri().path();
    if path == "/healthz" {
        return Response::new(Full::new(Bytes::from_static(b"ok")).boxed_unsync());
    }
    if !PATHS.contains(&path) {
        let mut response = Response::new(
            Full::new(Bytes::from_static(
                br#"{"error":{"code":"not_found","message":"POST ChatKit requests to /chatkit"}}"#,
            ))
            .boxed_unsync(),
        );
        *response.status_mut() = StatusCode::NOT_FOUND;
        return response;
    }
    let (parts, body) = request.into_parts();
    // read at most one byte past the limit: enough to answer 413 without buffering more
    let limit = gateway.max_body_bytes().saturating_add(1);
    let body = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => Bytes::from(vec![0u8; limit]),
    };
    gateway.handle(Request::from_parts(parts, body), &request_id).await
}

/// Binds `addr` and returns the bound address and the serving future.
pub async fn bind(
    gateway: Arc<Gateway>,
    addr: SocketAddr,
) -> std::io::Result<(SocketAddr, impl std::future::Future<Output = ()>)> {
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    info!(%bound, "serving ChatKit over HTTP at POST /chatkit");
    let serve = async move {
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(conn) => conn,
                Err(err) => {
                    warn!(error = %err, "accept failed");
                    continue;
                }
            };
            let gateway = gateway.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let gateway = gateway.clone();
                    async move { Ok::<_, std::convert::Infallible>(route(gateway, req).await) }
                });
                if let Err(err) = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    info!(error = %err, "connection closed");
                }
            });
        }
    };
    Ok((bound, serve))
}
