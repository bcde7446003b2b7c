//! ISO 4217 currency codes that an invoice may use.

/// Sorted ISO 4217 alphabetic codes of currencies and funds.
///
/// Source: `iso_4217.json` of Debian's iso-codes 4.15.0, without precious
/// metals, bond-market units, XDR, XSU, XUA and the test codes XTS and XXX.
/// Added since that release: XCG (Caribbean guilder, 2025) and ZWG
/// (Zimbabwe Gold, 2024). Removed: HRK, because Croatia has used EUR since
/// 2023-01-01, so an HRK invoice is a mistake. Other recently withdrawn codes
/// (ANG, CUC, SLL, ZWL) stay accepted, because old invoices may still use them.
const CODES: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD",
    "CAD", "CDF", "CHE", "CHF", "CHW", "CLF", "CLP", "CNY", "COP", "COU", "CRC", "CUC", "CUP",
    "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP",
    "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS",
    "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW",
    "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD",
    "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN",
    "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR",
    "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SLL",
    "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY",
    "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED", "VES",
    "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG", "ZWL",
];

/// Returns whether `code` is one of the accepted ISO 4217 codes; `code` must be upper case.
pub fn is_known_currency(code: &str) -> bool {
    CODES.binary_search(&code).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_sorted_for_binary_search() {
        assert!(CODES.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn known_currency_accepts_current_codes_only() {
        for code in ["EUR", "GBP", "USD", "JPY", "XCG", "ZWG", "AED", "ZMW"] {
            assert!(is_known_currency(code), "{code}");
        }
        for code in ["HRK", "EUX", "eur", "XXX", "XAU", ""] {
            assert!(!is_known_currency(code), "{code}");
        }
    }
}
