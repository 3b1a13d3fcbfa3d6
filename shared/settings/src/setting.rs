//! One declared setting and its typed accessors.

use std::str::FromStr;
use std::time::Duration;

/// A setting that cannot be used: names it and says why. Configuration is read once at start,
/// so this stops the function with a message an operator can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {variable}: {message}")]
pub struct SettingError {
    pub variable: &'static str,
    pub message: String,
}

impl SettingError {
    pub fn new(variable: &'static str, message: impl Into<String>) -> Self {
        Self { variable, message: message.into() }
    }
}

/// A source of settings by name: the process environment ([`crate::env`]), or a map in tests.
pub trait Lookup {
    fn get(&self, name: &str) -> Option<String>;
}

impl<F: Fn(&str) -> Option<String>> Lookup for F {
    fn get(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// Where a setting belongs (the sections of `docs/settings.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Group {
    Auth,
    Http,
    Limits,
    Model,
    Tools,
    Attachments,
    Storage,
    Operations,
}

impl Group {
    pub const ALL: [Group; 8] = [
        Group::Auth,
        Group::Http,
        Group::Limits,
        Group::Model,
        Group::Tools,
        Group::Attachments,
        Group::Storage,
        Group::Operations,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Group::Auth => "Authentication",
            Group::Http => "HTTP, CORS and outbound calls",
            Group::Limits => "Request and usage limits",
            Group::Model => "The model",
            Group::Tools => "Tools",
            Group::Attachments => "Attachments and dictation",
            Group::Storage => "Storage (DynamoDB) and AWS calls",
            Group::Operations => "Operations: start-up, logs, metrics, local mode",
        }
    }
}

/// The type of a setting's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `1`/`true`/`on`/`yes` or `0`/`false`/`off`/`no`.
    Flag,
    /// Free text.
    Text,
    /// A secret value (never logged).
    Secret,
    /// An outbound URL: `https://` (plain `http://` only to a loopback host in local mode).
    Url,
    /// A comma-separated list.
    List,
    /// A JSON document.
    Json,
    /// One of the named values.
    Choice(&'static [&'static str]),
    /// A whole number of `unit`, from `min` to `max`.
    Number { unit: &'static str, min: u64, max: u64 },
}

/// One environment setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    pub name: &'static str,
    pub group: Group,
    pub kind: Kind,
    /// The default as documented; for numbers, flags and choices also the value used when
    /// the setting is unset. Empty: unset.
    pub default: &'static str,
    /// What it does, one line (Markdown).
    pub doc: &'static str,
    /// The SAM template parameter that sets it, if any.
    pub parameter: Option<&'static str>,
}

impl Setting {
    /// Trimmed value; unset and empty (or blank) are the same.
    pub fn raw(&self, get: &dyn Lookup) -> Option<String> {
        get.get(self.name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
    }

    /// Whether the setting is set (to something not blank).
    pub fn is_set(&self, get: &dyn Lookup) -> bool {
        self.raw(get).is_some()
    }

    /// A text value, or the declared default (none when the default is empty).
    pub fn text(&self, get: &dyn Lookup) -> Option<String> {
        self.raw(get).or_else(|| (!self.default.is_empty()).then(|| self.default.to_string()))
    }

    /// A flag: set to a true or false word, or the default.
    pub fn flag(&self, get: &dyn Lookup) -> Result<bool, SettingError> {
        let value = self.raw(get).unwrap_or_else(|| self.default.to_string());
        match value.to_ascii_lowercase().as_str() {
            "1" | "true" | "on" | "yes" => Ok(true),
            "0" | "false" | "off" | "no" | "" => Ok(false),
            other => Err(self.error(format!("`{other}` is not a flag: use 1 or 0"))),
        }
    }

    /// One of the declared choices, or the default.
    pub fn choice(&self, get: &dyn Lookup) -> Result<String, SettingError> {
        let value = self.raw(get).unwrap_or_else(|| self.default.to_string());
        match self.kind {
            Kind::Choice(options) if options.contains(&value.as_str()) => Ok(value),
            Kind::Choice(options) => Err(self.error(format!(
                "`{value}` is not one of {}",
                options.iter().map(|o| format!("`{o}`")).collect::<Vec<_>>().join(", ")
            ))),
            _ => Err(self.error("not declared as a choice")),
        }
    }

    /// A whole number within the declared bounds, or the default.
    pub fn number<T: FromStr + TryFrom<u64>>(&self, get: &dyn Lookup) -> Result<T, SettingError> {
        let Kind::Number { unit, min, max } = self.kind else {
            return Err(self.error("not declared as a number"));
        };
        let value = self.raw(get).unwrap_or_else(|| self.default.to_string());
        let n: u64 = value
            .parse()
            .map_err(|_| self.error(format!("`{value}` is not a whole number of {unit}")))?;
        if !(min..=max).contains(&n) {
            return Err(self.error(format!("{n} is out of bounds: {min} to {max} {unit}")));
        }
        T::try_from(n).map_err(|_| self.error(format!("{n} is too large")))
    }

    /// A number of milliseconds as a duration.
    pub fn millis(&self, get: &dyn Lookup) -> Result<Duration, SettingError> {
        Ok(Duration::from_millis(self.number(get)?))
    }

    /// A number of seconds as a duration.
    pub fn seconds(&self, get: &dyn Lookup) -> Result<Duration, SettingError> {
        Ok(Duration::from_secs(self.number(get)?))
    }

    /// A comma-separated list, trimmed, without empty entries; the default's when unset.
    pub fn list(&self, get: &dyn Lookup) -> Vec<String> {
        let value = self.raw(get).unwrap_or_else(|| self.default.to_string());
        value.split(',').map(str::trim).filter(|v| !v.is_empty()).map(str::to_string).collect()
    }

    /// An outbound URL, checked ([`crate::check_outbound_url`]); `None` when unset and
    /// without a default.
    pub fn url(&self, get: &dyn Lookup) -> Result<Option<String>, SettingError> {
        match self.text(get) {
            Some(url) => {
                crate::check_outbound_url(self.name, &url, crate::is_local(get))?;
                Ok(Some(url))
            }
            None => Ok(None),
        }
    }

    /// An error about this setting.
    pub fn error(&self, message: impl Into<String>) -> SettingError {
        SettingError::new(self.name, message)
    }
}
