//! Plain HTTP mode (`POST /chatkit`) for containers, benchmarks and local frontends: the same
//! gateway as on Lambda, served by hyper. A client that disconnects cancels its stream; one
//! that is slow to send its headers or its body is cut off ([`ReadTimeouts`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::gateway::Gateway;
use crate::responses::ResponseBody;

/// Paths answered in local mode.
pub const PATHS: &[&str] = &["/chatkit", "/chatkit/"];

/// How long a client may take to send a request: its headers, then its body. (On Lambda the
/// Function URL front end reads the request before the function sees it.)
#[derive(Debug, Clone, Copy)]
pub struct ReadTimeouts {
    pub headers: Duration,
    pub body: Duration,
}

impl Default for ReadTimeouts {
    fn default() -> Self {
        Self { headers: Duration::from_secs(10), body: Duration::from_secs(30) }
    }
}

fn json(status: StatusCode, body: &'static [u8]) -> Response<ResponseBody> {
    let mut response = Response::new(Full::new(Bytes::from_static(body)).boxed_unsync());
    *response.status_mut() = status;
    response.headers_mut().insert(http::header::CONTENT_TYPE, "application/json".parse().unwrap());
    response
}

async fn route(
    gateway: Arc<Gateway>,
    request: Request<Incoming>,
    body_timeout: Duration,
) -> Response<ResponseBody> {
    let request_id = ulid::Ulid::new().to_string();
    let path = request.uri().path();
    if path == "/healthz" {
        return Response::new(Full::new(Bytes::from_static(b"ok")).boxed_unsync());
    }
    if !PATHS.contains(&path) {
        return json(
            StatusCode::NOT_FOUND,
            br#"{"error":{"code":"not_found","message":"POST ChatKit requests to /chatkit"}}"#,
        );
    }
    let (parts, body) = request.into_parts();
    // read at most one byte past the limit: enough to answer 413 without buffering more
    let limit = gateway.max_body_bytes().saturating_add(1);
    let body = match tokio::time::timeout(body_timeout, Limited::new(body, limit).collect()).await
    {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(_)) => Bytes::from(vec![0u8; limit]),
        Err(_) => {
            return json(
                StatusCode::REQUEST_TIMEOUT,
                br#"{"error":{"code":"request_timeout","message":"the request body did not arrive in time"}}"#,
            )
        }
    };
    gateway.handle(Request::from_parts(parts, body), &request_id).await
}

/// Binds `addr` and returns the bound address and the serving future.
pub async fn bind(
    gateway: Arc<Gateway>,
    addr: SocketAddr,
    timeouts: ReadTimeouts,
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
                    async move {
                        Ok::<_, std::convert::Infallible>(route(gateway, req, timeouts.body).await)
                    }
                });
                if let Err(err) = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(timeouts.headers)
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
