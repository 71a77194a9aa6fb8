//! Amounts between our minor units and the decimal major units the ads platforms write
//! (`1250` USD is `"12.50"`, `1250` JPY is `"1250"`).

use serde_json::Value;

/// Currencies without minor units (ISO 4217 exponent 0) the platforms bill in.
const NO_MINOR: &[&str] = &[
    "JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF", "PYG",
];

/// How many decimal places `currency` has: 0 for [`NO_MINOR`], else 2.
pub(crate) fn exponent(currency: &str) -> u32 {
    let upper = currency.trim().to_ascii_uppercase();
    if NO_MINOR.contains(&upper.as_str()) {
        0
    } else {
        2
    }
}

/// `minor` written in major units with the currency's decimals: `1250` USD → `"12.50"`.
pub(crate) fn to_major(minor: i64, currency: &str) -> String {
    let places = exponent(currency);
    if places == 0 {
        return minor.to_string();
    }
    let unit = 10_i64.pow(places);
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    let unit = unit.unsigned_abs();
    format!(
        "{sign}{}.{:0width$}",
        abs / unit,
        abs % unit,
        width = places as usize
    )
}

/// A decimal amount in major units as minor units, rounded half away from zero:
/// `"12.5"` USD → `1250`, `"0.005"` USD → `1`. `None` when it is not a decimal number.
pub(crate) fn to_minor(major: &str, currency: &str) -> Option<i64> {
    let places = exponent(currency) as usize;
    let s = major.trim();
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    let mut kept: String = fraction.chars().take(places).collect();
    while kept.len() < places {
        kept.push('0');
    }
    let round_up = fraction
        .as_bytes()
        .get(places)
        .is_some_and(|digit| *digit >= b'5');
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let kept: i64 = if kept.is_empty() {
        0
    } else {
        kept.parse().ok()?
    };
    let magnitude = whole
        .checked_mul(10_i64.pow(places as u32))?
        .checked_add(kept)?
        .checked_add(i64::from(round_up))?;
    Some(if negative { -magnitude } else { magnitude })
}

/// A JSON amount in major units (a string or a number) as minor units; anything else is 0.
pub(crate) fn minor_of(value: &Value, currency: &str) -> i64 {
    match value {
        Value::String(s) => to_minor(s, currency).unwrap_or(0),
        Value::Number(n) => to_minor(&n.to_string(), currency).unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn minor_to_major_with_the_currencys_decimals() {
        assert_eq!(to_major(1250, "USD"), "12.50");
        assert_eq!(to_major(5, "eur"), "0.05");
        assert_eq!(to_major(100, "GBP"), "1.00");
        assert_eq!(to_major(1250, "JPY"), "1250");
        assert_eq!(to_major(-1, "USD"), "-0.01");
        assert_eq!(exponent("KRW"), 0);
        assert_eq!(exponent("XOF"), 0);
        assert_eq!(exponent("BRL"), 2);
    }

    #[test]
    fn major_to_minor_rounds_half_away_from_zero() {
        assert_eq!(to_minor("12.5", "USD"), Some(1250));
        assert_eq!(to_minor("12.34", "USD"), Some(1234));
        assert_eq!(to_minor("0.005", "USD"), Some(1));
        assert_eq!(to_minor("0.0049", "USD"), Some(0));
        assert_eq!(to_minor("-0.005", "USD"), Some(-1));
        assert_eq!(to_minor("12", "USD"), Some(1200));
        assert_eq!(to_minor(".5", "USD"), Some(50));
        assert_eq!(to_minor("1250.5", "JPY"), Some(1251));
        assert_eq!(to_minor("1250.4", "JPY"), Some(1250));
        assert_eq!(to_minor("", "USD"), None);
        assert_eq!(to_minor("1e3", "USD"), None);
        assert_eq!(to_minor("12.3.4", "USD"), None);
        assert_eq!(minor_of(&json!(1.23), "USD"), 123);
        assert_eq!(minor_of(&json!("7.10"), "EUR"), 710);
        assert_eq!(minor_of(&json!(null), "EUR"), 0);
    }
}
