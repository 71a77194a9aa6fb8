//! A calendar date of the proleptic Gregorian calendar, years 0000 to 9999: built from year, month
//! and day with validation, converted to and from a count of days since 1970-01-01, and parsed
//! from and formatted as `YYYY-MM-DD`. Just enough for daily metrics, so no chrono.

use std::fmt;
use std::str::FromStr;

/// A valid calendar date between [`Date::MIN`] (0000-01-01) and [`Date::MAX`] (9999-12-31).
/// Dates order chronologically; `Display` and `FromStr` use `YYYY-MM-DD`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    // Field order matters: the derived `Ord` compares year, then month, then day.
    year: i32,
    month: u8,
    day: u8,
}

/// Why a date was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DateError {
    /// The text is not `YYYY-MM-DD` (four, two and two ASCII digits joined by `-`).
    Format,
    /// The year, month and day name no date: a month outside 1..=12, a day outside the month
    /// (2023-02-29, 2024-04-31), or a year outside 0..=9999.
    NoSuchDate { year: i32, month: u32, day: u32 },
    /// The day count lies outside [`Date::MIN`]..=[`Date::MAX`].
    OutOfRange { days_since_epoch: i64 },
}

impl fmt::Display for DateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DateError::Format => f.write_str("a date must be written YYYY-MM-DD"),
            DateError::NoSuchDate { year, month, day } => {
                write!(f, "there is no date {year:04}-{month:02}-{day:02}")
            }
            DateError::OutOfRange { days_since_epoch } => write!(
                f,
                "{days_since_epoch} days after 1970-01-01 lies outside 0000-01-01..=9999-12-31"
            ),
        }
    }
}

impl std::error::Error for DateError {}

impl Date {
    /// 0000-01-01, the first date.
    pub const MIN: Date = Date::unchecked(0, 1, 1);
    /// 9999-12-31, the last date.
    pub const MAX: Date = Date::unchecked(9999, 12, 31);
    /// 1970-01-01, day 0 of [`Date::days_since_epoch`].
    pub const EPOCH: Date = Date::unchecked(1970, 1, 1);

    const fn unchecked(year: i32, month: u8, day: u8) -> Date {
        Date { year, month, day }
    }

    /// The date `year-month-day`, if there is one: month 1..=12, day within the month (leap
    /// years as in the Gregorian calendar), year 0..=9999.
    pub fn new(year: i32, month: u32, day: u32) -> Result<Date, DateError> {
        let no_such = DateError::NoSuchDate { year, month, day };
        if !(0..=9999).contains(&year) || !(1..=12).contains(&month) {
            return Err(no_such);
        }
        if day < 1 || day > days_in_month(year, month) {
            return Err(no_such);
        }
        // In range by the checks above.
        Ok(Date::unchecked(year, month as u8, day as u8))
    }

    pub fn year(self) -> i32 {
        self.year
    }

    /// 1..=12.
    pub fn month(self) -> u32 {
        u32::from(self.month)
    }

    /// 1..=31.
    pub fn day(self) -> u32 {
        u32::from(self.day)
    }

    /// Days since 1970-01-01 (negative before it).
    pub fn days_since_epoch(self) -> i64 {
        // Howard Hinnant's days_from_civil: a year that starts in March puts the leap day last.
        let month = i64::from(self.month);
        let year = i64::from(self.year) - i64::from(month <= 2);
        let era = year.div_euclid(400);
        let year_of_era = year - era * 400; // 0..=399
        let shifted_month = if month > 2 { month - 3 } else { month + 9 }; // March = 0
        let day_of_year = (153 * shifted_month + 2) / 5 + i64::from(self.day) - 1; // 0..=365
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        era * 146_097 + day_of_era - 719_468
    }

    /// The date `days` days after 1970-01-01 (before it when negative), if it lies within
    /// [`Date::MIN`]..=[`Date::MAX`].
    pub fn from_days_since_epoch(days: i64) -> Result<Date, DateError> {
        let out_of_range = DateError::OutOfRange {
            days_since_epoch: days,
        };
        if days < Date::MIN.days_since_epoch() || days > Date::MAX.days_since_epoch() {
            return Err(out_of_range);
        }
        // Howard Hinnant's civil_from_days, the inverse of `days_since_epoch`.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let day_of_era = z - era * 146_097; // 0..=146096
        let year_of_era =
            (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let shifted_month = (5 * day_of_year + 2) / 153; // March = 0
        let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
        let month = if shifted_month < 10 {
            shifted_month + 3
        } else {
            shifted_month - 9
        };
        let year = year_of_era + era * 400 + i64::from(month <= 2);
        // The range check above keeps the year within 0..=9999, the month and day small.
        Ok(Date::unchecked(year as i32, month as u8, day as u8))
    }
}

/// Whether `year` has a 29 February.
pub fn is_leap_year(year: i32) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// The number of days of `month` (1..=12) in `year`.
fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl Date {
    /// `YYYY-MM-DD` as ASCII bytes, without allocating (what `Display` writes).
    pub fn ymd(self) -> [u8; 10] {
        // the year lies in 0..=9999 (Date::MIN..=Date::MAX): four digits
        let year = self.year as u32;
        let digit = |n: u32| b'0' + (n % 10) as u8;
        [
            digit(year / 1000),
            digit(year / 100),
            digit(year / 10),
            digit(year),
            b'-',
            digit(u32::from(self.month) / 10),
            digit(u32::from(self.month)),
            b'-',
            digit(u32::from(self.day) / 10),
            digit(u32::from(self.day)),
        ]
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ymd = self.ymd();
        f.write_str(std::str::from_utf8(&ymd).expect("ASCII digits and dashes"))
    }
}

impl FromStr for Date {
    type Err = DateError;

    /// Exactly `YYYY-MM-DD`: no sign, no spaces, no shorter fields, a real date.
    fn from_str(s: &str) -> Result<Date, DateError> {
        let bytes = s.as_bytes();
        let shape_ok = bytes.len() == 10
            && bytes[4] == b'-'
            && bytes[7] == b'-'
            && [0, 1, 2, 3, 5, 6, 8, 9]
                .iter()
                .all(|&i| bytes[i].is_ascii_digit());
        if !shape_ok {
            return Err(DateError::Format);
        }
        let number = |range: std::ops::Range<usize>| {
            bytes[range]
                .iter()
                .fold(0u32, |n, b| n * 10 + u32::from(b - b'0'))
        };
        // At most 9999: fits an i32.
        let year = number(0..4) as i32;
        Date::new(year, number(5..7), number(8..10))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Date {
        s.parse().unwrap()
    }

    #[test]
    fn known_day_counts() {
        for (text, days) in [
            ("1970-01-01", 0),
            ("1970-01-02", 1),
            ("1969-12-31", -1),
            ("2000-01-01", 10_957),
            ("2000-02-29", 11_016),
            ("2000-03-01", 11_017),
            ("2024-02-29", 19_782),
            ("2024-03-01", 19_783),
            ("2100-03-01", 47_541),
            ("0000-01-01", -719_528),
            ("9999-12-31", 2_932_896),
        ] {
            assert_eq!(d(text).days_since_epoch(), days, "{text}");
            assert_eq!(
                Date::from_days_since_epoch(days).unwrap(),
                d(text),
                "{days}"
            );
        }
    }

    #[test]
    fn leap_years_follow_the_gregorian_rule() {
        assert!(is_leap_year(2024));
        assert!(is_leap_year(2000));
        assert!(is_leap_year(0));
        assert!(!is_leap_year(1900));
        assert!(!is_leap_year(2100));
        assert!(!is_leap_year(2023));
        assert!(Date::new(2024, 2, 29).is_ok());
        assert!(Date::new(2000, 2, 29).is_ok());
        assert!(Date::new(1900, 2, 29).is_err());
        assert!(Date::new(2023, 2, 29).is_err());
        // 1900-02-28 is followed by 1900-03-01, 2000-02-28 by 2000-02-29.
        let next = |s: &str| Date::from_days_since_epoch(d(s).days_since_epoch() + 1).unwrap();
        assert_eq!(next("1900-02-28"), d("1900-03-01"));
        assert_eq!(next("2000-02-28"), d("2000-02-29"));
        assert_eq!(next("2023-12-31"), d("2024-01-01"));
    }

    #[test]
    fn every_day_of_four_centuries_round_trips_in_order() {
        // 1900..2300 holds every leap-year case (2000 yes, 1900, 2100, 2200 no).
        let first = d("1900-01-01").days_since_epoch();
        let last = d("2299-12-31").days_since_epoch();
        let mut previous: Option<Date> = None;
        for days in first..=last {
            let date = Date::from_days_since_epoch(days).unwrap();
            assert_eq!(date.days_since_epoch(), days);
            assert_eq!(
                Date::new(date.year(), date.month(), date.day()),
                Ok(date),
                "{date}"
            );
            assert_eq!(date.to_string().parse::<Date>(), Ok(date));
            if let Some(previous) = previous {
                assert!(previous < date);
            }
            previous = Some(date);
        }
        assert_eq!(last - first + 1, 400 * 365 + 97);
    }

    #[test]
    fn the_ends_of_the_range() {
        assert_eq!(Date::MIN.to_string(), "0000-01-01");
        assert_eq!(Date::MAX.to_string(), "9999-12-31");
        assert_eq!(Date::EPOCH.days_since_epoch(), 0);
        let min = Date::MIN.days_since_epoch();
        let max = Date::MAX.days_since_epoch();
        assert_eq!(Date::from_days_since_epoch(min), Ok(Date::MIN));
        assert_eq!(Date::from_days_since_epoch(max), Ok(Date::MAX));
        assert_eq!(
            Date::from_days_since_epoch(min - 1),
            Err(DateError::OutOfRange {
                days_since_epoch: min - 1
            })
        );
        assert!(Date::from_days_since_epoch(max + 1).is_err());
        assert!(Date::from_days_since_epoch(i64::MIN).is_err());
        assert!(Date::from_days_since_epoch(i64::MAX).is_err());
    }

    #[test]
    fn invalid_dates_are_refused() {
        for (year, month, day) in [
            (2024, 0, 1),
            (2024, 13, 1),
            (2024, 1, 0),
            (2024, 1, 32),
            (2024, 4, 31),
            (2024, 6, 31),
            (2024, 9, 31),
            (2024, 11, 31),
            (2024, 2, 30),
            (2023, 2, 29),
            (-1, 1, 1),
            (10_000, 1, 1),
        ] {
            assert_eq!(
                Date::new(year, month, day),
                Err(DateError::NoSuchDate { year, month, day })
            );
        }
        assert!(Date::new(2024, 12, 31).is_ok());
        assert!(Date::new(2024, 4, 30).is_ok());
    }

    #[test]
    fn parsing_wants_exactly_yyyy_mm_dd() {
        assert_eq!(d("2024-03-09"), Date::new(2024, 3, 9).unwrap());
        for bad in [
            "",
            "2024-3-09",
            "2024-03-9",
            "24-03-09",
            "2024/03/09",
            "2024-03/09",
            "2024/03-09",
            "2024-03-09 ",
            " 2024-03-09",
            "+024-03-09",
            "2024-03-0a",
            "20240309",
            "2024-03-09T00:00:00Z",
            "２024-03-09",
        ] {
            assert_eq!(bad.parse::<Date>(), Err(DateError::Format), "{bad:?}");
        }
        assert_eq!(
            "2023-02-29".parse::<Date>(),
            Err(DateError::NoSuchDate {
                year: 2023,
                month: 2,
                day: 29
            })
        );
        assert!("2024-00-10".parse::<Date>().is_err());
        assert!("2024-13-10".parse::<Date>().is_err());
        assert!("2024-01-00".parse::<Date>().is_err());
    }

    #[test]
    fn formatting_pads_every_field() {
        assert_eq!(Date::new(7, 1, 2).unwrap().to_string(), "0007-01-02");
        assert_eq!(Date::new(2024, 12, 31).unwrap().to_string(), "2024-12-31");
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert_eq!(
            "2023-02-29".parse::<Date>().unwrap_err().to_string(),
            "there is no date 2023-02-29"
        );
        assert!(DateError::Format.to_string().contains("YYYY-MM-DD"));
    }
}
