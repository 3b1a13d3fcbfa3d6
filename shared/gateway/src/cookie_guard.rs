//! Cookie auth that is safe: a browser attaches a cookie to any request for its site, also to
//! one a foreign page starts. A cross-site `text/plain` POST (a form, or `fetch` in `no-cors`
//! mode) needs no preflight, so without this check it could create or delete threads as the
//! signed-in user. A request whose token comes from the cookie must therefore carry an allowed
//! `Origin` and `Content-Type: application/json` (which no cross-site page can send without a
//! preflight the CORS rules refuse). Requests with `Authorization: Bearer` need neither: a
//! foreign page cannot read the token to send it.

use http::header::{AUTHORIZATION, CONTENT_TYPE, ORIGIN};
use http::HeaderMap;

use crate::auth::{cookie, Authenticator};

/// The origins allowed to use cookie authentication.
#[derive(Debug, Clone, Default)]
pub struct CookieGuard {
    origins: Vec<String>,
}

/// Why a cookie-authenticated request is refused (answered 403).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CookieRefusal {
    #[error("cookie authentication is on but no origin may use it: set CHATKIT_COOKIE_ORIGINS (SAM: AllowedOrigins) to the app's origin")]
    NoOrigins,
    #[error("a request authenticated by cookie must carry an Origin header")]
    MissingOrigin,
    #[error("origin {0:?} may not use cookie authentication")]
    OriginNotAllowed(String),
    #[error("a request authenticated by cookie must be sent with Content-Type: application/json")]
    NotJson,
}

impl CookieGuard {
    /// Exact origins (`https://app.example.com`); a `*` entry allows nothing here.
    pub fn new(origins: Vec<String>) -> Self {
        Self {
            origins: origins
                .into_iter()
                .map(|o| o.trim().trim_end_matches('/').to_string())
                .filter(|o| !o.is_empty() && o != "*")
                .collect(),
        }
    }

    /// The allowed origins.
    pub fn origins(&self) -> &[String] {
        &self.origins
    }

    /// `Ok` for a request that does not authenticate with the cookie, or does so from an
    /// allowed origin with a JSON body. Runs before the token is verified, so a forged
    /// request costs no key lookup.
    pub fn check(&self, auth: &Authenticator, headers: &HeaderMap) -> Result<(), CookieRefusal> {
        if !uses_cookie(auth, headers) {
            return Ok(());
        }
        if self.origins.is_empty() {
            return Err(CookieRefusal::NoOrigins);
        }
        let origin = headers.get(ORIGIN).ok_or(CookieRefusal::MissingOrigin)?;
        let origin = origin.to_str().map_err(|_| {
            CookieRefusal::OriginNotAllowed(String::from_utf8_lossy(origin.as_bytes()).into_owned())
        })?;
        if !self.origins.iter().any(|o| o == origin) {
            return Err(CookieRefusal::OriginNotAllowed(origin.chars().take(200).collect()));
        }
        if !is_json(headers) {
            return Err(CookieRefusal::NotJson);
        }
        Ok(())
    }
}

/// Whether the authenticator will take this request's token from the cookie: a cookie is
/// configured and sent, no `Authorization` header wins over it, and it is not a dev-auth
/// `X-User-ID` request.
fn uses_cookie(auth: &Authenticator, headers: &HeaderMap) -> bool {
    let Some(name) = auth.cookie_name.as_deref() else { return false };
    if headers.contains_key(AUTHORIZATION) {
        return false;
    }
    if auth.dev_auth
        && headers
            .get("x-user-id")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| !v.trim().is_empty())
    {
        return false;
    }
    // a cookie sent twice is refused by the authenticator; it still came from the cookie jar
    cookie(headers, name).map_or(true, |value| value.is_some_and(|v| !v.is_empty()))
}

/// `application/json`, parameters (`; charset=utf-8`) allowed, case-insensitive.
fn is_json(headers: &HeaderMap) -> bool {
    let mut values = headers.get_all(CONTENT_TYPE).iter();
    let (Some(value), None) = (values.next(), values.next()) else { return false };
    let Ok(value) = value.to_str() else { return false };
    let essence = value.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use crate::secrets::StaticSecret;
    use jsonwebtoken::Algorithm;

    fn auth() -> Authenticator {
        Authenticator::new(
            Some(Arc::new(StaticSecret("s".repeat(32).into()))),
            None,
            vec![Algorithm::HS256],
        )
        .with_cookie(Some("ck".into()))
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        map
    }

    const APP: &str = "https://app.example.com";

    #[test]
    fn a_cookie_request_needs_an_allowed_origin_and_json() {
        let guard = CookieGuard::new(vec![APP.into(), "*".into()]);
        let ok = headers(&[
            ("cookie", "ck=t"),
            ("origin", APP),
            ("content-type", "Application/JSON; charset=utf-8"),
        ]);
        assert_eq!(guard.check(&auth(), &ok), Ok(()));
        let no_origin = headers(&[("cookie", "ck=t"), ("content-type", "application/json")]);
        assert_eq!(guard.check(&auth(), &no_origin), Err(CookieRefusal::MissingOrigin));
        let evil = headers(&[
            ("cookie", "ck=t"),
            ("origin", "https://evil.example"),
            ("content-type", "application/json"),
        ]);
        assert_eq!(
            guard.check(&auth(), &evil),
            Err(CookieRefusal::OriginNotAllowed("https://evil.example".into()))
        );
        let null = headers(&[
            ("cookie", "ck=t"),
            ("origin", "null"),
            ("content-type", "application/json"),
        ]);
        assert!(matches!(guard.check(&auth(), &null), Err(CookieRefusal::OriginNotAllowed(_))));
        for content_type in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/jsonp",
            "",
        ] {
            let form =
                headers(&[("cookie", "ck=t"), ("origin", APP), ("content-type", content_type)]);
            assert_eq!(
                guard.check(&auth(), &form),
                Err(CookieRefusal::NotJson),
                "{content_type:?}"
            );
        }
        let missing = headers(&[("cookie", "ck=t"), ("origin", APP)]);
        assert_eq!(guard.check(&auth(), &missing), Err(CookieRefusal::NotJson));
        let twice = headers(&[
            ("cookie", "ck=t"),
            ("origin", APP),
            ("content-type", "application/json"),
            ("content-type", "text/plain"),
        ]);
        assert_eq!(guard.check(&auth(), &twice), Err(CookieRefusal::NotJson));
    }

    #[test]
    fn a_wildcard_or_empty_list_allows_no_cookie_request() {
        let request =
            headers(&[("cookie", "ck=t"), ("origin", APP), ("content-type", "application/json")]);
        assert_eq!(
            CookieGuard::new(vec!["*".into()]).check(&auth(), &request),
            Err(CookieRefusal::NoOrigins)
        );
        assert_eq!(CookieGuard::default().check(&auth(), &request), Err(CookieRefusal::NoOrigins));
        assert_eq!(
            CookieGuard::new(vec![format!("{APP}/")]).check(&auth(), &request),
            Ok(()),
            "a trailing slash is ignored"
        );
    }

    #[test]
    fn bearer_dev_and_cookieless_requests_are_not_checked() {
        let guard = CookieGuard::default();
        let bearer = headers(&[
            ("cookie", "ck=t"),
            ("authorization", "Bearer x"),
            ("content-type", "text/plain"),
        ]);
        assert_eq!(guard.check(&auth(), &bearer), Ok(()));
        let other_cookie = headers(&[("cookie", "theme=dark"), ("content-type", "text/plain")]);
        assert_eq!(guard.check(&auth(), &other_cookie), Ok(()));
        let empty = headers(&[("cookie", "ck=")]);
        assert_eq!(guard.check(&auth(), &empty), Ok(()));
        let cookie_off = Authenticator::new(None, None, vec![Algorithm::HS256]);
        assert_eq!(guard.check(&cookie_off, &headers(&[("cookie", "ck=t")])), Ok(()));
        let dev = auth().with_dev_auth(true);
        assert_eq!(guard.check(&dev, &headers(&[("cookie", "ck=t"), ("x-user-id", "u")])), Ok(()));
        assert_eq!(
            guard.check(&dev, &headers(&[("cookie", "ck=t")])),
            Err(CookieRefusal::NoOrigins)
        );
        let duplicated = headers(&[("cookie", "ck=a; ck=b")]);
        assert_eq!(
            guard.check(&auth(), &duplicated),
            Err(CookieRefusal::NoOrigins),
            "a duplicated cookie is still a cookie request"
        );
    }
}
