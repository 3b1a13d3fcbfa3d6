//! The auth matrix: every way a token can be wrong is a 401-class error; HS256 with a secret,
//! RS256/ES256 from a JWKS served on loopback (cached by kid, refetched on an unknown kid).

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
    encode(&Header::new(Algorithm::HS256), claims, &EncodingKey::from_secret(SECRET.as_bytes())).unwrap()
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
            if v.is_null() { c.as_object_mut().unwrap().remove(k); } else { c[k] = v.clone(); }
        }
        c
    };
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let alg_none = format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), b64(&claims()));
    let wrong_key = encode(&Header::new(Algorithm::HS256), &claims(), &EncodingKey::from_secret(b"another-secret-another-secret-00")).unwrap();
    let cases: Vec<(&str, HeaderMap)> = vec![
        ("missing", HeaderMap::new()),
        ("not bearer", { let mut h = HeaderMap::new(); h.insert("authorization", "Basic dXNlcjpwYXNz".parse().unwrap()); h }),
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
    assert!(hs_auth().authenticate(&bearer(&hs(&c))).await.is_ok(), "30 s past exp is within leeway");
}

#[tokio::test]
async fn hs_rs_confusion_is_rejected() {
    // an attacker signs HS256 with the RSA *public* key as the HMAC secret
    let forged = encode(&Header::new(Algorithm::HS256), &claims(), &EncodingKey::from_secret(RSA_PUBLIC)).unwrap();
    let (url, _) = jwks_server(JWKS.to_string()).await;
    let auth = Authenticator::new(None, Some(Jwks::new(reqwest::Client::new(), url, Duration::from_secs(300))), vec![Algorithm::RS256]);
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

/// Serves a JWKS document that tests can replace; counts fetches.
async fn jwks_server(initial: String) -> (String, Arc<(Mutex<String>, AtomicUsize)>) {
    let state = Arc::new((Mutex::new(initial), AtomicUsize::new(0)));
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
                        shared.1.fetch_add(1, Ordering::SeqCst);
                        let body = shared.0.lock().unwrap().clone();
                        Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(Bytes::from(body))))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
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
    let auth = Authenticator::new(None, Some(Jwks::new(reqwest::Client::new(), url, Duration::from_secs(300))), vec![Algorithm::RS256, Algorithm::ES256]);

    let es = signed(Algorithm::ES256, "ec-1", &claims());
    assert_eq!(auth.authenticate(&bearer(&es)).await.unwrap().user_id, "user-1");
    assert_eq!(auth.authenticate(&bearer(&es)).await.unwrap().user_id, "user-1");
    assert_eq!(state.1.load(Ordering::SeqCst), 1, "cached after the first fetch");

    // the issuer rotates in the RSA key; an unknown kid right after a fetch is refused without
    // a refetch (rate limit: one per 30 s by default)
    *state.0.lock().unwrap() = JWKS.to_string();
    let rs = signed(Algorithm::RS256, "rsa-1", &claims());
    let reason = rejected(&auth, bearer(&rs)).await;
    assert!(reason.contains("rsa-1"), "{reason}");
    assert_eq!(state.1.load(Ordering::SeqCst), 1, "no refetch storm");

    // once the interval has passed, the unknown kid triggers exactly one refetch
    let (url, state) = jwks_server(only_ec_for_rotation()).await;
    let jwks = Jwks::new(reqwest::Client::new(), url, Duration::from_secs(300)).with_refetch_interval(Duration::ZERO);
    let auth = Authenticator::new(None, Some(jwks), vec![Algorithm::RS256, Algorithm::ES256]);
    assert!(auth.authenticate(&bearer(&es)).await.is_ok());
    *state.0.lock().unwrap() = JWKS.to_string();
    assert_eq!(auth.authenticate(&bearer(&rs)).await.unwrap().user_id, "user-1");
    assert_eq!(state.1.load(Ordering::SeqCst), 2, "one refetch for the rotated key");
    assert!(auth.authenticate(&bearer(&rs)).await.is_ok());
    assert_eq!(state.1.load(Ordering::SeqCst), 2, "then cached");
}
