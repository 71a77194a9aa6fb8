//! Parsed field types: a value of one of these is valid by construction.

use std::str::FromStr;

use thiserror::Error;

/// Why a field value was refused; the caller knows which field it was.
#[derive(Debug, Error, PartialEq, Eq, Clone)]
#[error("{0}")]
pub struct FieldError(pub String);

/// Characters that reorder how text is displayed (bidirectional embeddings, overrides and
/// isolates, and the invisible direction marks): refused like control characters, so a name
/// cannot show one thing and be another.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Messages say what is wrong with the value, not which field it is: the caller names the field.
fn bounded(s: &str, max: usize) -> Result<String, FieldError> {
    let trimmed = s.trim();
    if trimmed.is_empty() {
        return Err(FieldError("must not be empty".into()));
    }
    if trimmed.chars().count() > max {
        return Err(FieldError(format!("must be at most {max} characters")));
    }
    if trimmed
        .chars()
        .any(|c| c.is_control() || is_bidi_control(c))
    {
        return Err(FieldError(
            "must not contain control or bidirectional formatting characters".into(),
        ));
    }
    Ok(trimmed.to_owned())
}

macro_rules! text_type {
    ($(#[$m:meta])* $name:ident, $max:expr) => {
        $(#[$m])*
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: &str) -> Result<Self, FieldError> {
                bounded(s, $max).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
}

text_type!(
    /// A display name: 1 to 200 characters after trimming, no control characters.
    Name, 200
);
text_type!(
    /// The partner's own id for its customer: 1 to 255 characters.
    CustomerExternalId, 255
);
text_type!(
    /// Free text up to 2,000 characters.
    Description, 2000
);

/// An IANA time zone name such as `Europe/Paris` or `UTC`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timezone(chrono_tz::Tz);

impl Timezone {
    pub fn parse(s: &str) -> Result<Timezone, FieldError> {
        chrono_tz::Tz::from_str(s).map(Timezone).map_err(|_| {
            FieldError("must be an IANA time zone name such as Europe/Paris or UTC".into())
        })
    }

    pub fn as_str(&self) -> &str {
        self.0.name()
    }
}

/// A well-formed, registered BCP-47 language tag, stored in canonical case (`en-US`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LanguageTag(String);

impl LanguageTag {
    pub fn parse(s: &str) -> Result<LanguageTag, FieldError> {
        let bad = || FieldError("must be a BCP-47 language tag such as en or pt-BR".into());
        let tag = language_tags::LanguageTag::parse(s).map_err(|_| bad())?;
        tag.validate().map_err(|_| bad())?;
        let canonical = tag.canonicalize().map_err(|_| bad())?;
        Ok(LanguageTag(canonical.into_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(Name::parse("  Acme  ").unwrap().as_str(), "Acme");
        assert!(Name::parse("   ").is_err());
        assert!(Name::parse(&"x".repeat(201)).is_err());
        assert!(Name::parse(&"é".repeat(200)).is_ok());
        assert!(Name::parse("a\u{0}b").is_err());
        assert!(Name::parse("evil\u{202E}gnp.exe").is_err());
        assert!(Name::parse("a\u{2066}b").is_err());
        assert!(Name::parse("a\u{200F}b").is_err());
    }

    #[test]
    fn timezones_are_iana_names() {
        assert_eq!(
            Timezone::parse("Europe/Paris").unwrap().as_str(),
            "Europe/Paris"
        );
        assert_eq!(Timezone::parse("UTC").unwrap().as_str(), "UTC");
        assert!(Timezone::parse("Mars/Olympus").is_err());
        assert!(Timezone::parse("").is_err());
        assert!(Timezone::parse("+02:00").is_err());
    }

    #[test]
    fn language_tags_are_checked_and_canonical() {
        assert_eq!(LanguageTag::parse("en").unwrap().as_str(), "en");
        assert_eq!(LanguageTag::parse("pt-br").unwrap().as_str(), "pt-BR");
        assert_eq!(
            LanguageTag::parse("zh-Hant-TW").unwrap().as_str(),
            "zh-Hant-TW"
        );
        assert!(LanguageTag::parse("english").is_err());
        assert!(LanguageTag::parse("en_US").is_err());
        assert!(LanguageTag::parse("qqq-ZZZZZZZZZ").is_err());
        assert!(LanguageTag::parse("").is_err());
    }
}
