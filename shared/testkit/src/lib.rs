//! Test scaffolding shared by the crates' tests and the bench, never a production
//! dependency: [`serve_http`] (the one local HTTP server loop), [`black_hole`] (a dependency
//! that never answers), the OpenAI-compatible model stub ([`model`]) and the real MCP server
//! runner ([`mcp`]), a stand-in Lambda Runtime API ([`runtime`]) and a stand-in for Amazon
//! Bedrock's event stream ([`bedrock`]).

pub mod bedrock;
pub mod mcp;
pub mod model;
pub mod runtime;

use std::future::Future;
use std::net::SocketAddr;

use hyper::body::{Body, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// A listener on a free loopback port, and its address.
pub async fn bind_loopback() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
    let address = listener.local_addr().expect("a bound address");
    (listener, address)
}

/// A loopback address that takes connections and never answers (nor reads): the dependency
/// that hangs, for tests that its time limits hold.
pub async fn black_hole() -> SocketAddr {
    let (listener, address) = bind_loopback().await;
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    address
}

/// Serves HTTP/1 on `listener` in the background until the runtime ends: each connection on
/// its own task (with `TCP_NODELAY`), each request answered by `handler`; an `Err` drops the
/// connection without an answer (what fault-injection tests need).
pub fn serve_http<H, F, B, E>(listener: TcpListener, handler: H)
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<Response<B>, E>> + Send + 'static,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else { return };
            let _ = socket.set_nodelay(true);
            let handler = handler.clone();
            tokio::spawn(async move {
                let service = service_fn(handler);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(socket), service)
                    .await;
            });
        }
    });
}
