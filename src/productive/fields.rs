//! Parsing of the text values shared by both export readers: decimals and ISO dates.

use chrono::NaiveDate;
use rust_decimal::Decimal;

/// Parses a decimal written with `.` as the separator and an optional sign
/// (`1234.50`, `-3.50`). Exponent notation (`1e3`) is accepted because JSON
/// allows it. Returns `None` for anything else, including thousands separators.
pub fn parse_decimal(text: &str) -> Option<Decimal> {
    let text = text.trim();
    if text.is_empty() || text.contains(['_', ',']) {
        return None;
    }
    text.parse::<Decimal>().ok().or_else(|| {
        if text.contains(['e', 'E']) {
            Decimal::from_scientific(text).ok()
        } else {
            None
        }
    })
}

/// Parses an ISO 8601 calendar date, `YYYY-MM-DD` and nothing else.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    let bytes = text.trim().as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        bytes[range].iter().try_fold(0u32, |value, &byte| {
            byte.is_ascii_digit()
                .then(|| value * 10 + u32::from(byte - b'0'))
        })
    };
    let year = i32::try_from(number(0..4)?).ok()?;
    NaiveDate::from_ymd_opt(year, number(5..7)?, number(8..10)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_decimal_accepts_plain_numbers_only() {
        assert_eq!(parse_decimal("1234.50"), Some(Decimal::new(123450, 2)));
        assert_eq!(parse_decimal(" -3.50 "), Some(Decimal::new(-350, 2)));
        assert_eq!(parse_decimal("1e3"), Some(Decimal::new(1000, 0)));
        assert_eq!(parse_decimal("1,234.50"), None);
        assert_eq!(parse_decimal("1_000"), None);
        assert_eq!(parse_decimal("12 EUR"), None);
        assert_eq!(parse_decimal(""), None);
    }

    #[test]
    fn parse_date_accepts_iso_dates_only() {
        assert_eq!(
            parse_date("2025-01-06"),
            NaiveDate::from_ymd_opt(2025, 1, 6)
        );
        assert_eq!(parse_date("2025-02-30"), None);
        assert_eq!(parse_date("06.01.2025"), None);
        assert_eq!(parse_date("2025-1-6"), None);
        assert_eq!(parse_date("+025-01-06"), None);
    }
}
