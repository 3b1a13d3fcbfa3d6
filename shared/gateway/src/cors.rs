//! CORS of the function itself (local HTTP mode, `make dev`, and any deployment that lets the
//! function answer CORS): allowed origins from config, preflights answered with a fixed header
//! list. A listed origin is echoed with `Access-Control-Allow-Credentials: true`; `*` is sent
//! as `*` and never with credentials, so a wildcard can not lend cookies to every site.

use http::header::{
    HeaderValue, ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS,
    ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_MAX_AGE, VARY,
};
use http::{HeaderMap, Request};

/// The request headers a preflight allows, whatever it asks for: the credentials, the JSON
/// body, and the two ids the ChatKit web component has been seen to send.
pub const ALLOWED_HEADERS: &str =
    "authorization, content-type, chatkit-device-id, chatkit-frame-instance-id, idempotency-key";

/// Which browser origins may call the endpoint.
#[derive(Debug, Clone, Default)]
pub struct Cors {
    origins: Vec<String>,
}

enum Allowed<'a> {
    /// Listed by name: echoed, with credentials.
    Listed(&'a str),
    /// Only by `*`: no credentials.
    Any,
}

impl Cors {
    /// `["*"]` allows any origin (without credentials); an empty list sends no CORS headers.
    pub fn new(origins: Vec<String>) -> Self {
        Self {
            origins: origins
                .into_iter()
                .map(|o| o.trim().trim_end_matches('/').to_string())
                .filter(|o| !o.is_empty())
                .collect(),
        }
    }

    fn allowed<'a>(&self, origin: Option<&'a str>) -> Option<Allowed<'a>> {
        let origin = origin?;
        if self.origins.iter().any(|o| o == origin) {
            Some(Allowed::Listed(origin))
        } else if self.origins.iter().any(|o| o == "*") {
            Some(Allowed::Any)
        } else {
            None
        }
    }

    /// Adds the CORS headers for this request's origin to a response.
    pub fn apply<B>(&self, request: &Request<B>, headers: &mut HeaderMap) {
        let origin = request.headers().get(http::header::ORIGIN).and_then(|v| v.to_str().ok());
        match self.allowed(origin) {
            Some(Allowed::Listed(origin)) => {
                if let Ok(value) = HeaderValue::from_str(origin) {
                    headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, value);
                    headers
                        .insert(ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
                    headers.insert(VARY, HeaderValue::from_static("Origin"));
                }
            }
            Some(Allowed::Any) => {
                headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
            }
            None => {}
        }
        if headers.contains_key(ACCESS_CONTROL_ALLOW_ORIGIN) {
            // the web kit reads the turn id to cancel a running turn (`turns.cancel`)
            headers.insert(
                "access-control-expose-headers",
                HeaderValue::from_static("x-chatkit-turn-id, x-request-id"),
            );
        }
    }

    /// Adds the preflight headers: POST, and the fixed [`ALLOWED_HEADERS`] list (not whatever
    /// `Access-Control-Request-Headers` asks for).
    pub fn apply_preflight<B>(&self, request: &Request<B>, headers: &mut HeaderMap) {
        self.apply(request, headers);
        if !headers.contains_key(ACCESS_CONTROL_ALLOW_ORIGIN) {
            return;
        }
        headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(ALLOWED_HEADERS));
        headers.insert(ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("POST, OPTIONS"));
        headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(origin: Option<&str>, asks: Option<&str>) -> Request<()> {
        let mut builder = Request::builder().method("OPTIONS").uri("/chatkit");
        if let Some(origin) = origin {
            builder = builder.header("origin", origin);
        }
        if let Some(asks) = asks {
            builder = builder.header("access-control-request-headers", asks);
        }
        builder.body(()).unwrap()
    }

    fn preflight(cors: &Cors, origin: Option<&str>, asks: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        cors.apply_preflight(&request(origin, asks), &mut headers);
        headers
    }

    #[test]
    fn a_listed_origin_is_echoed_with_credentials() {
        let cors = Cors::new(vec!["https://app.example.com/".into()]);
        let headers = preflight(&cors, Some("https://app.example.com"), None);
        assert_eq!(headers[ACCESS_CONTROL_ALLOW_ORIGIN], "https://app.example.com");
        assert_eq!(headers[ACCESS_CONTROL_ALLOW_CREDENTIALS], "true");
        assert_eq!(headers[VARY], "Origin");
        assert!(preflight(&cors, Some("https://evil.example"), None).is_empty());
        assert!(preflight(&cors, None, None).is_empty());
    }

    #[test]
    fn a_wildcard_is_never_combined_with_credentials() {
        let cors = Cors::new(vec!["*".into()]);
        let headers = preflight(&cors, Some("https://any.example"), None);
        assert_eq!(headers[ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert!(headers.get(ACCESS_CONTROL_ALLOW_CREDENTIALS).is_none());
        let mut response = HeaderMap::new();
        cors.apply(
            &Request::builder().header("origin", "https://any.example").body(()).unwrap(),
            &mut response,
        );
        assert_eq!(response[ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert!(response.get(ACCESS_CONTROL_ALLOW_CREDENTIALS).is_none());
        // a listed origin next to `*` keeps its credentials
        let mixed = Cors::new(vec!["*".into(), "https://app.example.com".into()]);
        assert_eq!(
            preflight(&mixed, Some("https://app.example.com"), None)
                [ACCESS_CONTROL_ALLOW_CREDENTIALS],
            "true"
        );
    }

    #[test]
    fn the_preflight_allows_a_fixed_header_list() {
        let cors = Cors::new(vec!["https://app.example.com".into()]);
        let headers = preflight(
            &cors,
            Some("https://app.example.com"),
            Some("authorization, content-type, x-evil, cookie"),
        );
        assert_eq!(headers[ACCESS_CONTROL_ALLOW_HEADERS], ALLOWED_HEADERS);
        assert!(!ALLOWED_HEADERS.contains("x-evil") && !ALLOWED_HEADERS.contains("cookie"));
        assert_eq!(headers[ACCESS_CONTROL_ALLOW_METHODS], "POST, OPTIONS");
    }
}
