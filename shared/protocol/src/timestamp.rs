//! `created_at` on the wire: written as RFC 3339 UTC (`…Z`, microseconds only when non-zero,
//! as the Python server does), read from naive, offset or Unix-epoch forms.

use chrono::{
    DateTime, Datelike, NaiveDateTime, SecondsFormat, SubsecRound, TimeZone, Timelike, Utc,
};
use serde::{de, Deserializer, Serializer};

/// Timestamps are kept at microsecond precision, like the reference server.
pub type Timestamp = DateTime<Utc>;

/// The current time, truncated to microseconds so it survives a round trip unchanged.
pub fn now() -> Timestamp {
    Utc::now().trunc_subsecs(6)
}

/// Formats a timestamp the way it goes on the wire.
pub fn format(ts: &Timestamp) -> String {
    // chrono's RFC 3339 writer gives the same text as the format strings below without
    // interpreting a format string per call (a list of 20 threads formats 20 of these)
    if (0..=9999).contains(&ts.year()) && ts.nanosecond() < 1_000_000_000 {
        let digits = if ts.timestamp_subsec_micros() == 0 {
            SecondsFormat::Secs
        } else {
            SecondsFormat::Micros
        };
        return ts.to_rfc3339_opts(digits, true);
    }
    strftime(ts)
}

/// The wire form by format strings (years past 9999, leap seconds).
fn strftime(ts: &Timestamp) -> String {
    if ts.timestamp_subsec_micros() == 0 {
        ts.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        ts.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
    }
}

/// Parses an ISO 8601 / RFC 3339 string with or without an offset (naive means UTC).
pub fn parse(text: &str) -> Option<Timestamp> {
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Some(dt.with_timezone(&Utc).trunc_subsecs(6));
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, fmt) {
            return Some(Utc.from_utc_datetime(&naive).trunc_subsecs(6));
        }
    }
    None
}

fn from_epoch(secs: f64) -> Option<Timestamp> {
    let micros = (secs * 1_000_000.0).round() as i64;
    DateTime::from_timestamp_micros(micros)
}

pub fn serialize<S: Serializer>(ts: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(ts))
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
    struct Visitor;
    impl de::Visitor<'_> for Visitor {
        type Value = Timestamp;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an ISO 8601 timestamp or Unix epoch seconds")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Timestamp, E> {
            parse(v).ok_or_else(|| E::custom(format_args!("invalid timestamp `{v}`")))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Timestamp, E> {
            self.visit_f64(v as f64)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Timestamp, E> {
            self.visit_f64(v as f64)
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Timestamp, E> {
            from_epoch(v).ok_or_else(|| E::custom(format_args!("epoch {v} out of range")))
        }
    }
    d.deserialize_any(Visitor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_form_is_the_format_strings_form() {
        let mut seconds: i64 = -62_135_596_800; // 0001-01-01
        while seconds < 253_402_300_799 {
            for micros in [0, 1, 130_000, 999_999] {
                let ts = DateTime::from_timestamp(seconds, micros * 1000).unwrap();
                assert_eq!(format(&ts), strftime(&ts), "{seconds}.{micros}");
            }
            seconds += 7_777_777_777 / 97; // about 2.5 years, every field changing
        }
    }

    #[test]
    fn accepts_naive_offset_and_epoch_forms() {
        let utc = parse("2025-06-01T12:00:00.123456Z").unwrap();
        assert_eq!(parse("2025-06-01T12:00:00.123456").unwrap(), utc);
        assert_eq!(parse("2025-06-01T14:00:00.123456+02:00").unwrap(), utc);
        assert_eq!(from_epoch(utc.timestamp() as f64 + 0.123456).unwrap(), utc);
        assert_eq!(parse("yesterday"), None);
    }

    #[test]
    fn writes_utc_with_micros_only_when_present() {
        assert_eq!(format(&parse("2025-06-01T12:00:04").unwrap()), "2025-06-01T12:00:04Z");
        assert_eq!(
            format(&parse("2025-06-01T12:00:00.13+00:00").unwrap()),
            "2025-06-01T12:00:00.130000Z"
        );
    }
}
