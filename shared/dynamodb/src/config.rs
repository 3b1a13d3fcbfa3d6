//! The store's settings: the table and the retention (`CHATKIT_TABLE_NAME`,
//! `CHATKIT_RETENTION_DAYS`, declared in `chatkit-settings`).

use std::time::Duration;

use chatkit_settings::catalog::{RETENTION_DAYS, TABLE_NAME};
use chatkit_settings::{Lookup, SettingError};

/// Where the store writes and how long records live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub table_name: String,
    /// `None`: records never expire.
    pub retention: Option<Duration>,
}

impl Settings {
    pub fn from_env() -> Result<Self, SettingError> {
        Self::from_lookup(&chatkit_settings::env)
    }

    pub fn from_lookup(get: &dyn Lookup) -> Result<Self, SettingError> {
        let days: u64 = RETENTION_DAYS.number(get)?;
        Ok(Self {
            table_name: TABLE_NAME.text(get).unwrap_or_default(),
            retention: (days > 0).then(|| Duration::from_secs(days * 86_400)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&'static str, &'static str)]) -> Result<Settings, SettingError> {
        let pairs = pairs.to_vec();
        Settings::from_lookup(&move |name: &str| {
            pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_string())
        })
    }

    #[test]
    fn parses_table_and_retention() {
        let s = parse(&[]).unwrap();
        assert_eq!((s.table_name.as_str(), s.retention), ("chatkit", None));
        let s = parse(&[("CHATKIT_TABLE_NAME", "t1"), ("CHATKIT_RETENTION_DAYS", "0")]).unwrap();
        assert_eq!((s.table_name.as_str(), s.retention), ("t1", None));
        let s = parse(&[("CHATKIT_RETENTION_DAYS", " 30 ")]).unwrap();
        assert_eq!(s.retention, Some(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse(&[("CHATKIT_TABLE_NAME", " ")]).unwrap().table_name, "chatkit");
    }

    #[test]
    fn rejects_bad_values_clearly() {
        let err = parse(&[("CHATKIT_RETENTION_DAYS", "thirty")]).err().unwrap().to_string();
        assert!(err.contains("CHATKIT_RETENTION_DAYS") && err.contains("thirty"), "{err}");
        assert!(parse(&[("CHATKIT_RETENTION_DAYS", "-1")]).is_err());
        assert!(parse(&[("CHATKIT_RETENTION_DAYS", "99999999")]).is_err());
    }
}
