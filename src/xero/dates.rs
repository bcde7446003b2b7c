//! Xero's date formats: `/Date(1539993600000+0000)/` (epoch milliseconds,
//! optional offset, negative before 1970) and ISO strings without a zone.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use regex::Regex;
use std::sync::OnceLock;

fn ms_date_pattern() -> &'static Regex {
    static PATTERN: OnceLock<Regex> = OnceLock::new();
    PATTERN.get_or_init(|| Regex::new(r"^/Date\((-?\d+)([+-]\d{2,4})?\)/$").expect("valid pattern"))
}

/// Parses a Xero timestamp: `/Date(ms+offset)/`, RFC 3339, or an ISO time
/// without a zone (read as UTC, which is how Xero writes `...UTC` fields).
pub fn parse_xero_datetime(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Some(captures) = ms_date_pattern().captures(text) {
        let millis: i64 = captures[1].parse().ok()?;
        // The milliseconds are already UTC; the offset only names the zone
        // the organisation displays them in.
        return Utc.timestamp_millis_opt(millis).single();
    }
    if let Ok(parsed) = DateTime::parse_from_rfc3339(text) {
        return Some(parsed.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(parsed) = NaiveDateTime::parse_from_str(text, format) {
            return Some(parsed.and_utc());
        }
    }
    None
}

/// Parses a Xero calendar date (`Date`, `DueDate`, `FullyPaidOnDate`).
pub fn parse_xero_date(text: &str) -> Option<NaiveDate> {
    let text = text.trim();
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Some(date);
    }
    parse_xero_datetime(text).map(|time| time.date_naive())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ms_date_with_offset() {
        let time = parse_xero_datetime("/Date(1539993600000+0000)/").unwrap();
        assert_eq!(time.to_rfc3339(), "2018-10-20T00:00:00+00:00");
    }

    #[test]
    fn ms_date_before_1970() {
        let date = parse_xero_date("/Date(-86400000)/").unwrap();
        assert_eq!(date.to_string(), "1969-12-31");
    }

    #[test]
    fn iso_without_zone_is_utc() {
        let time = parse_xero_datetime("2019-12-07T18:46:19.5165400").unwrap();
        assert_eq!(time.format("%H:%M:%S").to_string(), "18:46:19");
    }

    #[test]
    fn garbage_is_none() {
        assert!(parse_xero_datetime("/Date(abc)/").is_none());
    }
}
