//! Reading the server's settings from the environment.

/// A whole number from env var `name`: `None` when unset or empty, an error naming the
/// variable when it does not parse.
pub(crate) fn env_number<T: std::str::FromStr>(name: &str) -> Result<Option<T>, String> {
    match std::env::var(name).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => {
            v.parse().map(Some).map_err(|_| format!("{name}={v:?} is not a valid whole number"))
        }
    }
}
