//! CORS for the Function URL: allowed origins from config, preflights answered.

use http::header::{HeaderValue, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_MAX_AGE, VARY};
use http::{HeaderMap, Request};

/// Which browser origins may call the endpoint.
#[derive(Debug, Clone, Default)]
pub struct Cors {
    origins: Vec<String>,
}

impl Cors {
    /// `["*"]` allows any origin; an empty list sends no CORS headers.
    pub fn new(origins: Vec<String>) -> Self {
        Self { origins }
    }

    fn allowed<'a>(&self, origin: Option<&'a str>) -> Option<&'a str> {
        let origin = origin?;
        self.origins.iter().any(|o| o == "*" || o == origin).then_some(origin)
    }

    /// Adds the CORS headers for this request's origin to a response.
    pub fn apply<B>(&self, request: &Request<B>, headers: &mut HeaderMap) {
        let origin = request.headers().get(http::header::ORIGIN).and_then(|v| v.to_str().ok());
        if let Some(origin) = self.allowed(origin) {
            if let Ok(value) = HeaderValue::from_str(origin) {
                headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, value);
                headers.insert(VARY, HeaderValue::from_static("Origin"));
                headers.insert("access-control-allow-credentials", HeaderValue::from_static("true"));
            }
        }
    }

    /// Adds the preflight headers: the requested headers (Authorization, Content-Type and any
    /// custom ones the frontend's `fetch` adds) are allowed.
    pub fn apply_preflight<B>(&self, request: &Request<B>, headers: &mut HeaderMap) {
        self.apply(request, headers);
        if !headers.contains_key(ACCESS_CONTROL_ALLOW_ORIGIN) {
            return;
        }
        let requested = request
            .headers()
            .get(http::header::ACCESS_CONTROL_REQUEST_HEADERS)
            .cloned()
            .unwrap_or_else(|| HeaderValue::from_static("authorization, content-type"));
        headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, requested);
        headers.insert(ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("POST, OPTIONS"));
        headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    }
}
