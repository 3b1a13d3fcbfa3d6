//! The responses the gateway writes: JSON documents, JSON errors (generic for server-side
//! failures), and SSE streams.

use std::convert::Infallible;

use bytes::Bytes;
use chatkit_server::ChatKitError;
use futures::StreamExt;
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use http::{Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use tracing::warn;

use crate::request_log::StreamLog;

/// A response body: a whole JSON document or an SSE stream written frame by frame.
pub type ResponseBody = UnsyncBoxBody<Bytes, Infallible>;

pub(crate) fn json_response(status: u16, body: &serde_json::Value) -> Response<ResponseBody> {
    json_bytes_response(status, serde_json::to_vec(body).expect("JSON serializes"))
}

/// A JSON document already serialised (a [`chatkit_server::JsonBody`]).
pub(crate) fn json_bytes_response(status: u16, bytes: Vec<u8>) -> Response<ResponseBody> {
    let mut response = Response::new(Full::new(Bytes::from(bytes)).boxed_unsync());
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The JSON error. Server-side failures (500, 502, 503) get a generic message with the request
/// id; what failed (a store error naming the table, a key fetch naming the issuer, an upstream
/// service's own words) goes to the log only.
pub(crate) fn error_response(err: &ChatKitError, request_id: &str) -> Response<ResponseBody> {
    let status = err.status();
    let generic = match status {
        500 => Some("Something went wrong on our side. Please try again later."),
        502 => Some("A service this request needs did not answer properly. Please try again."),
        503 => Some("The service is temporarily unavailable. Please try again."),
        _ => None,
    };
    let body = match generic {
        Some(message) => {
            warn!(request_id, status, error = %err, "request failed");
            serde_json::json!({"error": {"code": err.code(), "message": message, "request_id": request_id}})
        }
        None => err.to_body(request_id),
    };
    let mut response = json_response(status, &body);
    if let ChatKitError::RateLimited { retry_after, .. } = err {
        response.headers_mut().insert(http::header::RETRY_AFTER, HeaderValue::from(*retry_after));
    }
    response
}

pub(crate) fn sse_response(
    events: chatkit_server::EventStream,
    mut log: StreamLog,
) -> Response<ResponseBody> {
    let frames = events.map(move |event| {
        // the whole guard moves into the closure, so it is dropped with the body
        let log = &mut log;
        log.events += 1;
        Ok::<_, Infallible>(Frame::data(Bytes::from(chatkit_protocol::sse_frame(&event))))
    });
    let mut response = Response::new(StreamBody::new(frames).boxed_unsync());
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream; charset=utf-8"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}
