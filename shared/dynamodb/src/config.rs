//! Settings read from the environment.

use std::time::Duration;

/// Env var naming the table.
pub const TABLE_NAME_ENV: &str = "CHATKIT_TABLE_NAME";
/// Env var with the retention in days (unset or 0: no expiry).
pub const RETENTION_DAYS_ENV: &str = "CHATKIT_RETENTION_DAYS";
/// Table name when [`TABLE_NAME_ENV`] is unset.
pub const DEFAULT_TABLE_NAME: &str = "chatkit";

/// A setting in the environment that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "{RETENTION_DAYS_ENV} must be a whole number of days (0 or unset: keep forever), got `{0}`"
    )]
    InvalidRetention(String),
    #[error("{TABLE_NAME_ENV} must not be empty")]
    EmptyTableName,
}

pub(crate) struct Settings {
    pub(crate) table_name: String,
    pub(crate) retention: Option<Duration>,
}

impl Settings {
    pub(crate) fn from_env() -> Result<Self, ConfigError> {
        Self::parse(
            std::env::var(TABLE_NAME_ENV).ok().as_deref(),
            std::env::var(RETENTION_DAYS_ENV).ok().as_deref(),
        )
    }

    fn parse(table: Option<&str>, retention_days: Option<&str>) -> Result<Self, ConfigError> {
        let table_name = match table {
            None => DEFAULT_TABLE_NAME.to_string(),
            Some(t) if t.trim().is_empty() => return Err(ConfigError::EmptyTableName),
            Some(t) => t.trim().to_string(),
        };
        let retention = match retention_days.map(str::trim) {
            None | Some("") => None,
            Some(days) => {
                let days: u64 =
                    days.parse().map_err(|_| ConfigError::InvalidRetention(days.to_string()))?;
                let secs = days
                    .checked_mul(86_400)
                    .ok_or_else(|| ConfigError::InvalidRetention(days.to_string()))?;
                (days > 0).then(|| Duration::from_secs(secs))
            }
        };
        Ok(Self { table_name, retention })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_table_and_retention() {
        let s = Settings::parse(None, None).unwrap();
        assert_eq!((s.table_name.as_str(), s.retention), ("chatkit", None));
        let s = Settings::parse(Some("t1"), Some("0")).unwrap();
        assert_eq!((s.table_name.as_str(), s.retention), ("t1", None));
        let s = Settings::parse(None, Some(" 30 ")).unwrap();
        assert_eq!(s.retention, Some(Duration::from_secs(30 * 86_400)));
    }

    #[test]
    fn rejects_bad_values_clearly() {
        let err = Settings::parse(None, Some("thirty")).err().unwrap().to_string();
        assert!(err.contains("CHATKIT_RETENTION_DAYS") && err.contains("thirty"), "{err}");
        assert!(Settings::parse(None, Some("-1")).is_err());
        assert!(Settings::parse(Some(" "), None).is_err());
    }
}
