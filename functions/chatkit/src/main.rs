//! The all-in-one ChatKit function: every operation in one process. Settings are read and
//! checked once; clients and secrets are built on first use (the warm-up, started with the
//! process alongside the first request) and reused by every warm invocation. Lambda response
//! streaming, or plain HTTP outside Lambda.

use std::sync::Arc;

/// mimalloc instead of glibc's malloc: a request allocates and frees many small values
/// (SDK records, JSON), and this is the cheaper allocator for that (see `make bench`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

// one thread: Lambda hands a process one invocation at a time, and a multi-thread runtime
// only adds wake-ups between its workers (measured: docs/costs.md, Start-up and CPU)
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    chatkit_gateway::init_tracing();
    let app = chatkit_app::App::from_env()?;
    let responder =
        chatkit_aws::agent::default_responder(Arc::new(move |agent| app.responder(agent)))?;
    let gateway = chatkit_aws::gateway_from_env(responder)?;
    chatkit_gateway::serve(Arc::new(gateway)).await
}
