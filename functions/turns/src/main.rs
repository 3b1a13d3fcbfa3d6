//! The `turns` function: the streaming operations and those that need the model or the
//! integrator's action handlers (docs/functions.md). It links the agent, its tools and the
//! model client; Lambda response streaming, or plain HTTP outside Lambda.

use std::sync::Arc;

use chatkit_protocol::Function;

/// mimalloc instead of glibc's malloc: a turn allocates and frees many small values (SDK
/// records, JSON, stream events), and this is the cheaper allocator for that (`make bench`).
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
    let gateway = chatkit_aws::function_from_env(Function::Turns, responder)?;
    chatkit_gateway::serve(Arc::new(gateway)).await
}
