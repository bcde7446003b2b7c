//! Money units of Productive's API and the rounding rule of its invoices.
//!
//! Every conversion between the integers of Productive's API and amounts in
//! major units goes through [`minor_to_major`] and [`major_to_minor`], so that
//! the unit assumption below can be changed in one place.

use rust_decimal::{Decimal, RoundingStrategy};

/// Converts a money attribute of Productive's API to major units.
///
/// NOTE: the unit is assumed, not documented. Productive's API sends
/// `unit_price` and payment `amount` as integers, which suggests minor units,
/// so xerosync takes every money attribute as 1/100 of the currency unit,
/// also for zero-decimal currencies such as JPY. Compare one live
/// `GET /invoices/{id}` with the web app before relying on it.
pub fn minor_to_major(minor: Decimal) -> Decimal {
    // Moving the decimal point is exact and keeps at least two decimals
    // (774750 becomes 7747.50). Division is only the fallback for values that
    // already carry the maximum scale of 28 digits.
    let mut major = minor;
    match major.set_scale(minor.scale() + 2) {
        Ok(()) => major,
        Err(_) => minor / Decimal::ONE_HUNDRED,
    }
}

/// Converts an amount in major units to the unit of Productive's API; the
/// inverse of [`minor_to_major`], under the same assumption.
pub fn major_to_minor(major: Decimal) -> Decimal {
    (major * Decimal::ONE_HUNDRED).normalize()
}

/// Rounds to 2 decimals, half away from zero, the rule the invoice exports
/// follow per line (2.525 becomes 2.53, -301.4375 becomes -301.44).
pub fn round_money(value: Decimal) -> Decimal {
    value.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    #[test]
    fn minor_to_major_keeps_fractions_of_a_cent() {
        assert_eq!(minor_to_major(dec("774750")).to_string(), "7747.50");
        assert_eq!(minor_to_major(dec("8.75")), dec("0.0875"));
        assert_eq!(minor_to_major(dec("-57680")), dec("-576.80"));
    }

    #[test]
    fn major_to_minor_inverts_conversion() {
        assert_eq!(major_to_minor(dec("5000.00")), dec("500000"));
        assert_eq!(major_to_minor(minor_to_major(dec("123"))), dec("123"));
        assert!(major_to_minor(dec("0.005")).fract() != Decimal::ZERO);
    }

    #[test]
    fn round_money_rounds_half_away_from_zero() {
        assert_eq!(round_money(dec("2.525")), dec("2.53"));
        assert_eq!(round_money(dec("31.005")), dec("31.01"));
        assert_eq!(round_money(dec("311.125")), dec("311.13"));
        assert_eq!(round_money(dec("-301.4375")), dec("-301.44"));
        assert_eq!(round_money(dec("-0.005")), dec("-0.01"));
    }
}
