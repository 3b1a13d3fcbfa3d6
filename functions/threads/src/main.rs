//! The `threads` function: JSON reads and writes of threads, items and attachments
//! (docs/functions.md). No model, no agent, no model key: it links none of them (a test
//! checks its dependency tree). Buffered Lambda responses, or plain HTTP outside Lambda.

use std::sync::Arc;

use chatkit_protocol::Function;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

// one thread: Lambda hands a process one invocation at a time, and a multi-thread runtime
// only adds wake-ups between its workers (measured: docs/costs.md, Start-up and CPU)
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    chatkit_gateway::init_tracing();
    let gateway = chatkit_aws::function_from_env(Function::Threads, chatkit_aws::no_responder())?;
    chatkit_gateway::serve(Arc::new(gateway)).await
}
