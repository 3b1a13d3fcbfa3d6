//! Every environment setting of the ChatKit functions, declared once in [`catalog`] with its
//! name, type, default, bounds and doc line, read through the typed accessors of [`Setting`]
//! into each crate's config, with one error type ([`SettingError`]) that names the setting.
//! `docs/settings.md` is generated from the declarations ([`markdown`]) and a test checks it.

pub mod catalog;
mod doc;
mod outbound;
mod setting;

pub use catalog::ALL;
pub use doc::markdown;
pub use outbound::{check_outbound_url, is_deployed_lambda, is_local};
pub use setting::{Group, Kind, Lookup, Setting, SettingError};

/// A [`Lookup`] where nothing is set: every setting at its declared default.
pub fn defaults(_: &str) -> Option<String> {
    None
}

/// The process environment as a [`Lookup`].
pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}
