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
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

const SECRET: &str = "test-secret-at-least-32-bytes-long!!";
const RSA_PRIVATE: &[u8] = include_bytes!("../fixtures/rsa_private.pem");
const RSA_PUBLIC: &[u8] = include_bytes!("../fixtures/rsa_public.pem");
const EC_PRIVATE: &[u8] = include_bytes!("../fixtures/ec_private.pem");
const JWKS: &str = include_str!("../fixtures/jwks.json");

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

mod cookies;
mod jwks;
mod tokens;
