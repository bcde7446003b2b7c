//! Xero's wire formats: `/Date(ms+0000)/` dates, exact decimal amounts and
//! the date strings it accepts on input.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::Value;

/// Rounds to `dp` decimal places, half away from zero, as Xero rounds amounts.
pub(crate) fn round_dp(value: Decimal, dp: u32) -> Decimal {
    value.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero)
}

/// Rounds to cents, half away from zero.
pub(crate) fn round2(value: Decimal) -> Decimal {
    round_dp(value, 2)
}

/// Builds a JSON number whose text is the decimal with exactly `scale`
/// places, like Xero's `4421.75` or `1.0000`. `serde_json` keeps the text
/// because the crate enables `arbitrary_precision`.
pub(crate) fn decimal_json(value: Decimal, scale: u32) -> Value {
    let mut scaled = round_dp(value, scale);
    scaled.rescale(scale);
    serde_json::from_str(&scaled.to_string()).expect("a decimal's text is a valid JSON number")
}

/// Builds a JSON number for an amount of money (2 places).
pub(crate) fn money_json(value: Decimal) -> Value {
    decimal_json(value, 2)
}

/// Reads a decimal from a JSON number or a numeric string without going
/// through a float.
pub(crate) fn decimal_from_json(value: &Value) -> Option<Decimal> {
    let text = match value {
        Value::Number(number) => number.to_string(),
        Value::String(text) => text.trim().to_string(),
        _ => return None,
    };
    text.parse::<Decimal>()
        .ok()
        .or_else(|| Decimal::from_scientific(&text).ok())
}

/// Formats a UTC time as Xero's `/Date(1539993600000+0000)/`.
pub(crate) fn ms_date(time: DateTime<Utc>) -> String {
    format!("/Date({}+0000)/", time.timestamp_millis())
}

/// Formats a calendar date as Xero's `/Date(ms+0000)/` at midnight UTC.
pub(crate) fn ms_date_of_day(date: NaiveDate) -> String {
    ms_date(midnight_utc(date))
}

/// Formats a calendar date as Xero's `DateString`, e.g. `2018-10-20T00:00:00`.
pub(crate) fn date_string(date: NaiveDate) -> String {
    format!("{}T00:00:00", date.format("%Y-%m-%d"))
}

/// Formats a time as the identity API does: ISO 8601 without a zone and with
/// 7 fraction digits, e.g. `2019-12-07T18:46:19.5165400`.
pub(crate) fn iso_without_zone(time: DateTime<Utc>) -> String {
    let ticks = time.nanosecond() % 1_000_000_000 / 100;
    format!("{}.{ticks:07}", time.format("%Y-%m-%dT%H:%M:%S"))
}

pub(crate) fn midnight_utc(date: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&date.and_time(NaiveTime::MIN))
}

/// Parses a document date the way Xero's XML schema type `dateTime` does:
/// `YYYY-MM-DD` or `YYYY-MM-DDThh:mm:ss`, optionally with a fraction and a
/// zone. Anything else, such as a space in place of the `T`, is rejected, and
/// Xero rejects it with `PostDataInvalidException`.
pub(crate) fn parse_document_date(text: &str) -> Option<NaiveDate> {
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return (text.len() == 10).then_some(date);
    }
    if text.as_bytes().get(10) != Some(&b'T') {
        return None;
    }
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(time.date_naive());
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|time| time.date())
}

/// Parses an `If-Modified-Since` header. Accepts ISO 8601 with or without a
/// zone (no zone means UTC, as Xero documents) and the HTTP date format.
pub(crate) fn parse_if_modified_since(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(time.with_timezone(&Utc));
    }
    if let Ok(time) = DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Some(time.with_timezone(&Utc));
    }
    if let Ok(time) = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(Utc.from_utc_datetime(&time));
    }
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Some(midnight_utc(date));
    }
    DateTime::parse_from_rfc2822(text)
        .ok()
        .map(|time| time.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_json_keeps_exact_text() {
        let value = decimal_json("4421.75".parse().unwrap(), 2);
        assert_eq!(value.to_string(), "4421.75");
        let value = decimal_json("1".parse().unwrap(), 4);
        assert_eq!(value.to_string(), "1.0000");
    }

    #[test]
    fn round2_goes_half_away_from_zero() {
        assert_eq!(round2("2.345".parse().unwrap()).to_string(), "2.35");
        assert_eq!(round2("-2.345".parse().unwrap()).to_string(), "-2.35");
    }

    #[test]
    fn document_date_forms() {
        let day = NaiveDate::from_ymd_opt(2018, 10, 20).unwrap();
        assert_eq!(parse_document_date("2018-10-20"), Some(day));
        assert_eq!(parse_document_date("2018-10-20T00:00:00"), Some(day));
        assert_eq!(parse_document_date("2018-10-20T10:11:12Z"), Some(day));
        assert_eq!(parse_document_date("2018-10-20 00:00:00"), None);
        assert_eq!(parse_document_date("20/10/2018"), None);
    }

    #[test]
    fn ms_date_matches_xero_example() {
        let day = NaiveDate::from_ymd_opt(2018, 10, 20).unwrap();
        assert_eq!(ms_date_of_day(day), "/Date(1539993600000+0000)/");
        assert_eq!(date_string(day), "2018-10-20T00:00:00");
    }

    #[test]
    fn if_modified_since_forms() {
        let expected = Utc.with_ymd_and_hms(2020, 2, 6, 20, 17, 43).unwrap();
        let parsed = parse_if_modified_since("2020-02-06T12:17:43-08:00").unwrap();
        assert_eq!(parsed, expected);
        let parsed = parse_if_modified_since("2020-02-06T20:17:43").unwrap();
        assert_eq!(parsed, expected);
        let parsed = parse_if_modified_since("Thu, 06 Feb 2020 20:17:43 GMT").unwrap();
        assert_eq!(parsed, expected);
        assert!(parse_if_modified_since("yesterday").is_none());
    }
}
