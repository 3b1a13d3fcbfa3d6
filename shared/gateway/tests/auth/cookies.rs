//! The token from a cookie.

use super::*;

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
