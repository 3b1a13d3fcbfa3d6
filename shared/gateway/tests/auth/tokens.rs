//! HS256 tokens: what is accepted and what is refused.

use super::*;
use crate::jwks::jwks_server;

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
