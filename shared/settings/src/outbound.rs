//! Outbound URLs: `https://`, or plain `http://` to a loopback host in local mode.

use crate::catalog::DEV_AUTH;
use crate::setting::{Lookup, SettingError};

/// Local mode: not on Lambda (the plain HTTP server), or local development
/// (`CHATKIT_DEV_AUTH=1`, as `make dev` sets under `cargo lambda watch`). Only then may
/// outbound URLs be plain `http://`, and only to a loopback host.
pub fn is_local(get: &dyn Lookup) -> bool {
    let on_lambda = get.get("AWS_LAMBDA_RUNTIME_API").is_some_and(|v| !v.trim().is_empty());
    !on_lambda || (DEV_AUTH.flag(get).unwrap_or(false) && !is_deployed_lambda(get))
}

/// A deployed Lambda function: Lambda sets `LAMBDA_TASK_ROOT` in every execution environment;
/// `cargo lambda watch` (`make dev`) does not.
pub fn is_deployed_lambda(get: &dyn Lookup) -> bool {
    get.get("LAMBDA_TASK_ROOT").is_some_and(|v| !v.trim().is_empty())
}

fn is_loopback(url: &url::Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Checks an outbound URL given in setting `name`: `https://` with a host, or `http://` to a
/// loopback host when `local`.
pub fn check_outbound_url(
    name: &'static str,
    value: &str,
    local: bool,
) -> Result<(), SettingError> {
    let url = url::Url::parse(value)
        .map_err(|e| SettingError::new(name, format!("`{value}` is not a URL: {e}")))?;
    match url.scheme() {
        "https" if url.host().is_some() => Ok(()),
        "http" if local && is_loopback(&url) => Ok(()),
        "http" if local => Err(SettingError::new(
            name,
            format!("`{value}`: plain http:// is accepted only for a loopback host (localhost, 127.0.0.1, ::1); use https://"),
        )),
        _ => Err(SettingError::new(
            name,
            format!("`{value}`: outbound URLs must use https:// (plain http:// only to a loopback host when running locally)"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_anywhere_http_only_to_loopback_locally() {
        assert!(check_outbound_url("X", "https://api.example/v1", false).is_ok());
        for ok in ["http://127.0.0.1:1/v1", "http://localhost/v1", "http://[::1]:1/v1"] {
            assert!(check_outbound_url("X", ok, true).is_ok(), "{ok}");
            assert!(check_outbound_url("X", ok, false).is_err(), "{ok} on Lambda");
        }
        let err = check_outbound_url("X", "http://10.0.0.5/v1", true).unwrap_err();
        assert!(err.to_string().contains("loopback") && err.variable == "X", "{err}");
        assert!(check_outbound_url("X", "ftp://x/v1", true)
            .unwrap_err()
            .message
            .contains("https://"));
        assert!(check_outbound_url("X", "api.example", true)
            .unwrap_err()
            .message
            .contains("not a URL"));
    }
}
