//! The Lambda path: Function URL events in, streamed responses out
//! (`InvokeMode: RESPONSE_STREAM`): SSE frames reach the client as they are produced. A
//! function none of whose operations streams (`threads`) answers buffered (`BUFFERED`).

use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use lambda_http::{service_fn, Body, RequestExt};

use crate::gateway::Gateway;
use crate::responses::ResponseBody;

/// Converts a Lambda HTTP request into the gateway's request type.
pub fn into_request(request: lambda_http::Request) -> (Request<Bytes>, String) {
    let request_id = request
        .lambda_context_ref()
        .map(|ctx| ctx.request_id.clone())
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| ulid::Ulid::new().to_string());
    // Lambda kills the invocation at its deadline: the turn stops a margin before it
    // (a context without one, deadline 0, is no deadline)
    let deadline =
        request.lambda_context_ref().map(lambda_http::Context::deadline).and_then(|at| {
            let left = at.duration_since(std::time::SystemTime::now()).ok()?;
            std::time::Instant::now().checked_add(left)
        });
    let (mut parts, body) = request.into_parts();
    if let Some(deadline) = deadline {
        parts.extensions.insert(chatkit_server::InvocationDeadline(deadline));
    }
    let bytes = match body {
        Body::Empty => Bytes::new(),
        Body::Text(text) => Bytes::from(text),
        Body::Binary(bytes) => Bytes::from(bytes),
        _ => Bytes::new(),
    };
    (Request::from_parts(parts, bytes), request_id)
}

/// Handles one Lambda invocation.
pub async fn handle(gateway: &Gateway, request: lambda_http::Request) -> Response<ResponseBody> {
    let (request, request_id) = into_request(request);
    gateway.handle(request, &request_id).await
}

/// Runs the Lambda runtime loop: with response streaming, unless the gateway's function
/// never streams (its Function URL is then `BUFFERED`). Should the Runtime API connection
/// break (the runtime then gives up and the process exits), the turns that were streaming
/// get a moment to save what they had, as on a client disconnect.
pub async fn run(gateway: Arc<Gateway>) -> Result<(), lambda_http::Error> {
    let serving = gateway.clone();
    let handler = service_fn(move |request| {
        let gateway = serving.clone();
        async move { Ok::<_, std::convert::Infallible>(handle(&gateway, request).await) }
    });
    let result = if gateway.function().is_some_and(|function| !function.streams()) {
        lambda_http::run(handler).await
    } else {
        lambda_http::run_with_streaming_response(handler).await
    };
    if result.is_err() {
        gateway.drain(std::time::Duration::from_secs(2)).await;
    }
    result
}
