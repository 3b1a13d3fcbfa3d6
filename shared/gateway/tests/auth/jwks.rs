//! RS256/ES256 tokens through a JWKS: caching by `kid`, refetches, failures.

use super::*;

/// A JWKS endpoint tests can steer: the document, the status, a fetch counter, and a hold that
/// keeps answers back until released.
pub(crate) struct JwksServer {
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
pub(crate) async fn jwks_server(initial: String) -> (String, Arc<JwksServer>) {
    let (held, _) = tokio::sync::watch::channel(false);
    let state = Arc::new(JwksServer {
        body: Mutex::new(initial),
        status: Mutex::new(200),
        fetches: AtomicUsize::new(0),
        held,
    });
    let (listener, address) = chatkit_testkit::bind_loopback().await;
    let url = format!("http://{address}/.well-known/jwks.json");
    let shared = state.clone();
    chatkit_testkit::serve_http(listener, move |_req| {
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
    let url = format!("http://{}/jwks.json", chatkit_testkit::black_hole().await);
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
