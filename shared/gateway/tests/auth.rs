//! The auth matrix: every way a token can be wrong is a 401-class error; HS256 with a secret,
//! RS256/ES256 from a JWKS served on loopback (cached by kid, refetched on an unknown kid, with
//! timeouts, single-flight fetches, failure backoff and a negative kid cache); cookies parsed
//! per RFC 6265.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use bytes::Bytes;
use chatkit_gateway::{AuthError, Authenticator, Jwks, StaticSecret};
use http::HeaderMap;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

const SECRET: &str = "test-secret-at-least-32-bytes-long!!";
const RSA_PRIVATE: &[u8] = include_bytes!("fixtures/rsa_private.pem");
const RSA_PUBLIC: &[u8] = include_bytes!("fixtures/rsa_public.pem");
const EC_PRIVATE: &[u8] = include_bytes!("fixtures/ec_private.pem");
const JWKS: &str = include_str!("fixtures/jwks.json");

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

fn claims() -> Value {
    json!({"sub": "user-1", "exp": now() + 600, "iss": "https://issuer.test", "aud": "chatkit"})
}

fn hs(claims: &Value) -> String {
    encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(SECRET.as_bytes()))
        .unwrap()
}

fn signed(alg: Algorithm, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_string());
    let key = match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(RSA_PRIVATE).unwrap(),
        Algorithm::ES256 => EncodingKey::from_ec_pem(EC_PRIVATE).unwrap(),
        _ => unreachable!(),
    };
    encode(&header, claims, &key).unwrap()
}

fn hs_auth() -> Authenticator {
    Authenticator::new(Some(Arc::new(StaticSecret(SECRET.into()))), None, vec![Algorithm::HS256])
        .with_issuer(Some("https://issuer.test".into()))
        .with_audience(Some("chatkit".into()))
}

fn jwks_auth(jwks: Jwks) -> Authenticator {
    Authenticator::new(None, Some(jwks), vec![Algorithm::RS256, Algorithm::ES256])
        .with_issuer(Some("https://issuer.test".into()))
        .with_audience(Some("chatkit".into()))
}

fn bearer(token: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("authorization", format!("Bearer {token}").parse().unwrap());
    headers
}

async fn rejected(auth: &Authenticator, headers: HeaderMap) -> String {
    match auth.authenticate(&headers).await {
        Ok(identity) => panic!("accepted as {identity:?}"),
        Err(AuthError::Keys(e)) => panic!("key failure instead of a token verdict: {e}"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn hs256_token_gives_its_sub() {
    let identity = hs_auth().authenticate(&bearer(&hs(&claims()))).await.unwrap();
    assert_eq!(identity.user_id, "user-1");
    assert!(identity.token.is_some());
}

#[tokio::test]
async fn every_bad_token_is_rejected() {
    let auth = hs_auth();
    let with = |patch: Value| {
        let mut c = claims();
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let alg_none = format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), b64(&claims()));
    let wrong_key = encode(
        &Header::new(Algorithm::HS256),
        &claims(),
        &EncodingKey::from_secret(b"another-secret-another-secret-00"),
    )
    .unwrap();
    let cases: Vec<(&str, HeaderMap)> = vec![
        ("missing", HeaderMap::new()),
        ("not bearer", {
            let mut h = HeaderMap::new();
            h.insert("authorization", "Basic dXNlcjpwYXNz".parse().unwrap());
            h
        }),
        ("malformed", bearer("not.a.jwt")),
        ("expired", bearer(&hs(&with(json!({"exp": now() - 120}))))),
        ("not yet valid", bearer(&hs(&with(json!({"nbf": now() + 120}))))),
        ("bad signature", bearer(&wrong_key)),
        ("alg none", bearer(&alg_none)),
        ("wrong issuer", bearer(&hs(&with(json!({"iss": "https://evil.test"}))))),
        ("wrong audience", bearer(&hs(&with(json!({"aud": "someone-else"}))))),
        ("missing sub", bearer(&hs(&with(json!({"sub": null}))))),
        ("missing exp", bearer(&hs(&with(json!({"exp": null}))))),
        ("RS256 not pinned", bearer(&signed(Algorithm::RS256, "rsa-1", &claims()))),
    ];
    for (name, headers) in cases {
        let reason = rejected(&auth, headers).await;
        assert!(!reason.is_empty(), "{name}");
    }
}

#[tokio::test]
async fn leeway_is_sixty_seconds() {
    let mut c = claims();
    c["exp"] = json!(now() - 30);
    assert!(
        hs_auth().authenticate(&bearer(&hs(&c))).await.is_ok(),
        "30 s past exp is within leeway"
    );
}

#[tokio::test]
async fn hs_rs_confusion_is_rejected() {
    // an attacker signs HS256 with the RSA *public* key as the HMAC secret
    let forged =
        encode(&Header::new(Algorithm::HS256), &claims(), &EncodingKey::from_secret(RSA_PUBLIC))
            .unwrap();
    let (url, _) = jwks_server(JWKS.to_string()).await;
    let auth = jwks_auth(Jwks::new(reqwest::Client::new(), url, Duration::from_secs(300)));
    let reason = rejected(&auth, bearer(&forged)).await;
    assert!(reason.contains("HS256"), "{reason}");
}

#[tokio::test]
async fn cookie_and_dev_header() {
    let mut cookie = HeaderMap::new();
    cookie.insert("cookie", format!("theme=dark; ck_token={}", hs(&claims())).parse().unwrap());
    assert!(hs_auth().authenticate(&cookie).await.is_err(), "cookie ignored unless configured");
    let auth = hs_auth().with_cookie(Some("ck_token".into()));
    assert_eq!(auth.authenticate(&cookie).await.unwrap().user_id, "user-1");

    let mut dev = HeaderMap::new();
    dev.insert("x-user-id", "dev-user".parse().unwrap());
    assert!(hs_auth().authenticate(&dev).await.is_err(), "X-User-ID ignored unless dev auth is on");
    assert_eq!(hs_auth().with_dev_auth(true).authenticate(&dev).await.unwrap().user_id, "dev-user");
}

/// A JWKS endpoint tests can steer: the document, the status, a fetch counter, and a hold that
/// keeps answers back until released.
struct JwksServer {
    body: Mutex<String>,
    status: Mutex<u16>,
    fetches: AtomicUsize,
    held: tokio::sync::watch::Sender<bool>,
}

impl JwksServer {
    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
    fn set_body(&self, body: String) {
        *self.body.lock().unwrap() = body;
    }
    fn set_status(&self, status: u16) {
        *self.status.lock().unwrap() = status;
    }
    /// While held, requests are counted but not answered.
    fn hold(&self, held: bool) {
        self.held.send_replace(held);
    }
}

/// Serves a JWKS document that tests can replace; counts fetches.
async fn jwks_server(initial: String) -> (String, Arc<JwksServer>) {
    let (held, _) = tokio::sync::watch::channel(false);
    let state = Arc::new(JwksServer {
        body: Mutex::new(initial),
        status: Mutex::new(200),
        fetches: AtomicUsize::new(0),
        held,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/.well-known/jwks.json", listener.local_addr().unwrap());
    let shared = state.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let shared = shared.clone();
            tokio::spawn(async move {
                let service = service_fn(move |_req| {
                    let shared = shared.clone();
                    async move {
                        shared.fetches.fetch_add(1, Ordering::SeqCst);
                        let mut held = shared.held.subscribe();
                        let _ = held.wait_for(|h| !*h).await;
                        let body = shared.body.lock().unwrap().clone();
                        let mut response = http::Response::new(Full::new(Bytes::from(body)));
                        *response.status_mut() =
                            http::StatusCode::from_u16(*shared.status.lock().unwrap()).unwrap();
                        Ok::<_, std::convert::Infallible>(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (url, state)
}

fn only_ec_for_rotation() -> String {
    let mut set: Value = serde_json::from_str(JWKS).unwrap();
    set["keys"].as_array_mut().unwrap().retain(|k| k["kid"] == "ec-1");
    set.to_string()
}

#[tokio::test]
async fn jwks_keys_are_cached_by_kid_and_refetched_once_for_an_unknown_kid() {
    let (url, state) = jwks_server(only_ec_for_rotation()).await;
    let auth = jwks_auth(Jwks::new(reqwest::Client::new(), url, Duration::from_secs(300)));

    let es = signed(Algorithm::ES256, "ec-1", &claims());
    assert_eq!(auth.authenticate(&bearer(&es)).await.unwrap().user_id, "user-1");
    assert_eq!(auth.authenticate(&bearer(&es)).await.unwrap().user_id, "user-1");
    assert_eq!(state.fetches(), 1, "cached after the first fetch");

    // the issuer rotates in the RSA key; an unknown kid right after a fetch is refused without
    // a refetch (rate limit: one per 30 s by default)
    state.set_body(JWKS.to_string());
    let rs = signed(Algorithm::RS256, "rsa-1", &claims());
    let reason = rejected(&auth, bearer(&rs)).await;
    assert!(reason.contains("rsa-1"), "{reason}");
    assert_eq!(state.fetches(), 1, "no refetch storm");

    // once the interval has passed, the unknown kid triggers exactly one refetch
    let (url, state) = jwks_server(only_ec_for_rotation()).await;
    let jwks = Jwks::new(reqwest::Client::new(), url, Duration::from_secs(300))
        .with_refetch_interval(Duration::ZERO);
    let auth = jwks_auth(jwks);
    assert!(auth.authenticate(&bearer(&es)).await.is_ok());
    state.set_body(JWKS.to_string());
    assert_eq!(auth.authenticate(&bearer(&rs)).await.unwrap().user_id, "user-1");
    assert_eq!(state.fetches(), 2, "one refetch for the rotated key");
    assert!(auth.authenticate(&bearer(&rs)).await.is_ok());
    assert_eq!(state.fetches(), 2, "then cached");
}

/// Waits at most 10 s for `f`: a hang fails the test instead of stalling it.
async fn bounded<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), f).await.unwrap_or_else(|_| panic!("{what} hung"))
}

#[tokio::test]
async fn a_jwks_endpoint_that_never_answers_is_a_key_failure_not_a_hang() {
    // accepts connections, reads nothing, answers nothing
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            open.push(stream);
        }
    });
    let jwks = Jwks::new(reqwest::Client::new(), url, Duration::from_secs(300))
        .with_timeout(Duration::from_millis(300))
        .with_failure_backoff(Duration::from_secs(60));
    let auth = jwks_auth(jwks);
    let token = signed(Algorithm::ES256, "ec-1", &claims());
    match bounded("the JWKS fetch", auth.authenticate(&bearer(&token))).await {
        Err(AuthError::Keys(e)) => assert!(e.0.contains("JWKS fetch failed"), "{e}"),
        other => panic!("expected a key failure, got {other:?}"),
    }
    // the failure is remembered: the next request is answered at once, without a new fetch
    match bounded("the second request", auth.authenticate(&bearer(&token))).await {
        Err(AuthError::Keys(e)) => assert!(e.0.contains("unavailable"), "{e}"),
        other => panic!("expected a key failure, got {other:?}"),
    }
}

#[tokio::test]
async fn a_failing_issuer_is_not_hammered_by_random_kids() {
    // never fetched successfully: one attempt, then the backoff answers every token
    let (url, server) = jwks_server(JWKS.to_string()).await;
    server.set_status(500);
    let jwks = Jwks::new(reqwest::Client::new(), url, Duration::from_secs(300))
        .with_failure_backoff(Duration::from_secs(60));
    let auth = jwks_auth(jwks);
    for i in 0..20 {
        let token = signed(Algorithm::RS256, &format!("random-{i}"), &claims());
        assert!(matches!(auth.authenticate(&bearer(&token)).await, Err(AuthError::Keys(_))));
    }
    assert_eq!(server.fetches(), 1, "one attempt, then backoff");

    // fetched once, then the issuer fails: unknown kids may not trigger a fetch each, even with
    // no refetch interval at all; known kids keep working from the cache
    let (url, server) = jwks_server(JWKS.to_string()).await;
    let jwks = Jwks::new(reqwest::Client::new(), url, Duration::from_secs(300))
        .with_refetch_interval(Duration::ZERO)
        .with_failure_backoff(Duration::from_secs(60));
    let auth = jwks_auth(jwks);
    let known = signed(Algorithm::ES256, "ec-1", &claims());
    assert!(auth.authenticate(&bearer(&known)).await.is_ok());
    server.set_status(503);
    for i in 0..20 {
        let token = signed(Algorithm::RS256, &format!("random-{i}"), &claims());
        let reason = rejected(&auth, bearer(&token)).await;
        assert!(reason.contains("unknown key id"), "{reason}");
    }
    assert_eq!(server.fetches(), 2, "the first fetch, one failed refetch, then backoff");
    assert!(auth.authenticate(&bearer(&known)).await.is_ok(), "cached keys still verify");
}

#[tokio::test]
async fn an_unknown_kid_is_remembered() {
    let (url, server) = jwks_server(JWKS.to_string()).await;
    let jwks = Jwks::new(reqwest::Client::new(), url, Duration::from_secs(300))
        .with_refetch_interval(Duration::ZERO);
    let auth = jwks_auth(jwks);
    let stranger = signed(Algorithm::RS256, "stranger", &claims());
    for _ in 0..5 {
        rejected(&auth, bearer(&stranger)).await;
    }
    assert_eq!(
        server.fetches(),
        1,
        "the kid was fetched for once, then answered from the negative cache"
    );
    rejected(&auth, bearer(&signed(Algorithm::RS256, "another", &claims()))).await;
    assert_eq!(server.fetches(), 2, "a different kid may refetch (no interval configured)");
}

#[tokio::test]
async fn fetches_are_single_flight_and_never_block_cached_keys() {
    let (url, server) = jwks_server(only_ec_for_rotation()).await;
    let jwks = Jwks::new(reqwest::Client::new(), url, Duration::from_secs(300))
        .with_refetch_interval(Duration::ZERO);
    let auth = Arc::new(jwks_auth(jwks));
    let es = signed(Algorithm::ES256, "ec-1", &claims());
    assert!(auth.authenticate(&bearer(&es)).await.is_ok());

    // the issuer publishes the RSA key but is slow to answer: five requests with the new kid
    // wait for one fetch, while a request with a cached kid is answered meanwhile
    server.set_body(JWKS.to_string());
    server.hold(true);
    let rs = signed(Algorithm::RS256, "rsa-1", &claims());
    let waiting: Vec<_> = (0..5)
        .map(|_| {
            let (auth, rs) = (auth.clone(), rs.clone());
            tokio::spawn(async move { auth.authenticate(&bearer(&rs)).await.map(|i| i.user_id) })
        })
        .collect();
    while server.fetches() < 2 {
        tokio::task::yield_now().await;
    }
    let cached =
        bounded("a cached-key request during a fetch", auth.authenticate(&bearer(&es))).await;
    assert_eq!(cached.unwrap().user_id, "user-1");
    assert!(waiting.iter().all(|t| !t.is_finished()), "the new-kid requests wait for the fetch");
    server.hold(false);
    for task in waiting {
        assert_eq!(bounded("a new-kid request", task).await.unwrap().unwrap(), "user-1");
    }
    assert_eq!(server.fetches(), 2, "one fetch served all five");
}

#[tokio::test]
async fn a_stale_set_is_served_while_its_refresh_fails() {
    let (url, server) = jwks_server(JWKS.to_string()).await;
    let jwks = Jwks::new(reqwest::Client::new(), url, Duration::ZERO)
        .with_failure_backoff(Duration::from_secs(60));
    let auth = jwks_auth(jwks);
    let es = signed(Algorithm::ES256, "ec-1", &claims());
    assert!(auth.authenticate(&bearer(&es)).await.is_ok());
    server.set_status(500);
    for _ in 0..3 {
        assert!(auth.authenticate(&bearer(&es)).await.is_ok(), "stale keys keep verifying");
    }
    assert_eq!(server.fetches(), 2, "one failed refresh, then backoff");
}

#[tokio::test]
async fn jwks_tokens_need_an_issuer_and_an_audience() {
    let (url, server) = jwks_server(JWKS.to_string()).await;
    let auth = Authenticator::new(
        None,
        Some(Jwks::new(reqwest::Client::new(), url, Duration::from_secs(300))),
        vec![Algorithm::ES256],
    )
    .with_issuer(Some("https://issuer.test".into()));
    let token = signed(Algorithm::ES256, "ec-1", &claims());
    match auth.authenticate(&bearer(&token)).await {
        Err(AuthError::Keys(e)) => assert!(e.0.contains("CHATKIT_JWT_AUDIENCE"), "{e}"),
        other => panic!("a JWKS without an audience must not verify: {other:?}"),
    }
    assert_eq!(server.fetches(), 0);
}

fn cookies(values: &[&str]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for v in values {
        headers.append("cookie", v.parse().unwrap());
    }
    headers
}

#[tokio::test]
async fn cookies_are_parsed_per_rfc_6265() {
    let auth = hs_auth().with_cookie(Some("ck_token".into()));
    let token = hs(&claims());

    let quoted = cookies(&[&format!("theme=dark; ck_token=\"{token}\"; lang=en")]);
    assert_eq!(
        auth.authenticate(&quoted).await.unwrap().user_id,
        "user-1",
        "a quoted value is unquoted"
    );
    let split = cookies(&["theme=dark", &format!("ck_token={token}")]);
    assert_eq!(
        auth.authenticate(&split).await.unwrap().user_id,
        "user-1",
        "several Cookie fields are one list"
    );
    let similar = cookies(&[&format!("CK_TOKEN=x; ck_token_old=y; ck_token={token}")]);
    assert_eq!(auth.authenticate(&similar).await.unwrap().user_id, "user-1", "names match exactly");

    // a sibling subdomain planted a second cookie of the same name: refused, whichever comes first
    for planted in [
        format!("ck_token=planted; ck_token={token}"),
        format!("ck_token={token}; ck_token=planted"),
    ] {
        let reason = rejected(&auth, cookies(&[&planted])).await;
        assert!(reason.contains("more than once"), "{reason}");
    }
    let reason =
        rejected(&auth, cookies(&["ck_token=planted", &format!("ck_token={token}")])).await;
    assert!(reason.contains("more than once"), "{reason}");
}

#[tokio::test]
async fn the_authorization_header_wins_over_the_cookie() {
    let auth = hs_auth().with_cookie(Some("ck_token".into()));
    let mut c = claims();
    c["sub"] = json!("cookie-user");
    let mut headers = cookies(&[&format!("ck_token={}", hs(&c))]);
    headers.insert("authorization", format!("Bearer {}", hs(&claims())).parse().unwrap());
    assert_eq!(auth.authenticate(&headers).await.unwrap().user_id, "user-1");
    // a broken header is not rescued by the cookie
    headers.insert("authorization", "Basic dXNlcjpwYXNz".parse().unwrap());
    let reason = rejected(&auth, headers).await;
    assert!(reason.contains("Bearer"), "{reason}");
    // with a header, duplicate cookies do not matter
    let mut headers = cookies(&["ck_token=a; ck_token=b"]);
    headers.insert("authorization", format!("Bearer {}", hs(&claims())).parse().unwrap());
    assert!(auth.authenticate(&headers).await.is_ok());
}

#[tokio::test]
async fn no_debug_output_prints_the_token() {
    let token = hs(&claims());
    let identity = hs_auth().authenticate(&bearer(&token)).await.unwrap();
    let printed = format!("{identity:?}");
    assert!(!printed.contains(&token) && printed.contains("user-1"), "{printed}");
    let context = chatkit_server::RequestContext::new(chatkit_store::UserId::new("u"), "r")
        .with_access_token(token.as_str());
    assert!(!format!("{context:?}").contains(&token));
}

#[tokio::test]
async fn a_tenant_claim_scopes_the_user_and_is_required() {
    let auth = hs_auth().with_tenant_claim(Some("org_id".into()));
    let with = |sub: &str, org: Value| {
        let mut c = claims();
        c["sub"] = json!(sub);
        if !org.is_null() {
            c["org_id"] = org;
        }
        bearer(&hs(&c))
    };
    let acme = auth.authenticate(&with("alice", json!("acme"))).await.unwrap();
    let globex = auth.authenticate(&with("alice", json!("globex"))).await.unwrap();
    assert_eq!((acme.user_id.as_str(), acme.tenant.as_deref()), ("alice", Some("acme")));
    assert_eq!(acme.store_user(), "t:acme/alice");
    assert_ne!(
        acme.store_user(),
        globex.store_user(),
        "the same sub in two organisations is two users"
    );
    assert_eq!(
        auth.authenticate(&with("alice", json!(42))).await.unwrap().store_user(),
        "t:42/alice"
    );
    // no pair of tenant and sub spells another pair's key
    let a = auth.authenticate(&with("b/c", json!("a"))).await.unwrap().store_user();
    let b = auth.authenticate(&with("c", json!("a/b"))).await.unwrap().store_user();
    let c = auth.authenticate(&with("c", json!("a%2Fb"))).await.unwrap().store_user();
    assert!(a != b && b != c && a != c, "{a} {b} {c}");
    for missing in [Value::Null, json!(""), json!("  "), json!(["acme"]), json!({"id": "acme"})] {
        let reason = rejected(&auth, with("alice", missing.clone())).await;
        assert!(reason.contains("org_id"), "{missing}: {reason}");
    }
    // without tenancy, the claim is ignored and the sub alone is the user
    let plain = hs_auth().authenticate(&with("alice", json!("acme"))).await.unwrap();
    assert_eq!((plain.store_user().as_str(), plain.tenant), ("alice", None));
    // dev auth names the tenant in a header
    let mut dev = HeaderMap::new();
    dev.insert("x-user-id", "dev".parse().unwrap());
    let dev_auth = hs_auth().with_dev_auth(true).with_tenant_claim(Some("org_id".into()));
    assert!(dev_auth.authenticate(&dev).await.is_err());
    dev.insert("x-tenant-id", "acme".parse().unwrap());
    assert_eq!(dev_auth.authenticate(&dev).await.unwrap().store_user(), "t:acme/dev");
}
