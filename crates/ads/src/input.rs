//! What a partner asks for, checked against our own schema before anything is read or written:
//! a link, a new campaign, a change. The sandbox validates nothing beyond this (seed 001); live
//! platforms may still refuse what passes here.

use chrono::{DateTime, Utc};
use layers_jobs::JobId;
use layers_orgs::OrgId;
use layers_platforms::AppleCredentials;
use layers_social::SocialAccountId;

use crate::{AdAccountId, AdPlatform, Budget, CampaignId, Creative, Objective, Targeting};

/// The fields a refusal names; the gateway spells them as the wire does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Platform,
    ExternalId,
    SocialAccount,
    Credentials,
    Name,
    Objective,
    BudgetAmount,
    BudgetCurrency,
    StartAt,
    EndAt,
    Countries,
    AgeMin,
    AgeMax,
    Languages,
    Creatives,
    CreativeHeadline,
    CreativeCaption,
    AppStoreUrl,
    Keywords,
    Change,
}

/// Input our schema refuses: the field (and the list index it is at) and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Invalid {
    pub field: Field,
    pub index: Option<usize>,
    pub message: String,
}

fn invalid(field: Field, message: impl Into<String>) -> Invalid {
    Invalid {
        field,
        index: None,
        message: message.into(),
    }
}

fn invalid_at(field: Field, index: usize, message: impl Into<String>) -> Invalid {
    Invalid {
        field,
        index: Some(index),
        message: message.into(),
    }
}

/// The most creatives, countries and keywords a campaign may have.
pub const MAX_CREATIVES: usize = 5;
pub const MAX_COUNTRIES: usize = 50;
pub const MAX_KEYWORDS: usize = 100;
/// The youngest and oldest ages a campaign may target.
pub const AGE_RANGE: std::ops::RangeInclusive<u8> = 13..=65;
/// The largest daily budget, in minor units.
pub const MAX_BUDGET: i64 = 1_000_000_000_000;

/// ISO 3166-1 alpha-2: every officially assigned code.
const COUNTRIES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ \
     BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ \
     CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ \
     EC EE EG EH ER ES ET FI FJ FK FM FO FR \
     GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU \
     ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ \
     LA LB LC LI LK LR LS LT LU LV LY \
     MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ \
     NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA \
     RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ \
     TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU \
     WF WS YE YT ZA ZM ZW";

/// Whether `code` is an assigned ISO 3166-1 alpha-2 code (upper case).
pub fn is_country(code: &str) -> bool {
    code.len() == 2 && COUNTRIES.split_ascii_whitespace().any(|c| c == code)
}

/// A request to link an ad account to a project.
#[derive(Clone, Debug)]
pub struct Link {
    pub id: AdAccountId,
    pub organization_id: OrgId,
    pub project_id: uuid::Uuid,
    pub platform: AdPlatform,
    pub external_id: String,
    pub social_account_id: Option<SocialAccountId>,
    /// Apple Search Ads only.
    pub credentials: Option<AppleCredentials>,
}

impl Link {
    /// Meta and TikTok name a social account and no credentials; Apple Search Ads the other
    /// way round.
    pub fn check(&self) -> Result<(), Invalid> {
        let id = self.external_id.trim();
        if id.is_empty()
            || self.external_id.chars().count() > 100
            || id.chars().any(char::is_control)
        {
            return Err(invalid(
                Field::ExternalId,
                "the ad account's external id must be 1 to 100 printable characters",
            ));
        }
        match self.platform {
            AdPlatform::Meta | AdPlatform::Tiktok => {
                if self.social_account_id.is_none() {
                    return Err(invalid(
                        Field::SocialAccount,
                        format!(
                            "{} ad accounts are reached through a connected social account: \
                             name one",
                            self.platform.as_str()
                        ),
                    ));
                }
                if self.credentials.is_some() {
                    return Err(invalid(
                        Field::Credentials,
                        "credentials are for Apple Search Ads only",
                    ));
                }
            }
            AdPlatform::AppleSearchAds => {
                if self.social_account_id.is_some() {
                    return Err(invalid(
                        Field::SocialAccount,
                        "Apple Search Ads takes credentials, not a social account",
                    ));
                }
                let Some(credentials) = &self.credentials else {
                    return Err(invalid(
                        Field::Credentials,
                        "Apple Search Ads needs credentials {clientId, teamId, keyId, privateKeyPem}",
                    ));
                };
                let parts = [
                    &credentials.client_id,
                    &credentials.team_id,
                    &credentials.key_id,
                    &credentials.private_key_pem,
                ];
                if parts
                    .iter()
                    .any(|p| p.trim().is_empty() || p.chars().count() > 8192)
                {
                    return Err(invalid(
                        Field::Credentials,
                        "every part of the credentials must be given (at most 8192 characters)",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A request to create a campaign.
#[derive(Clone, Debug)]
pub struct NewCampaign {
    pub id: CampaignId,
    pub organization_id: OrgId,
    pub api_key_id: Option<uuid::Uuid>,
    pub project_id: uuid::Uuid,
    pub ad_account_id: AdAccountId,
    pub name: String,
    pub objective: Objective,
    pub daily_budget: Budget,
    pub start_at: DateTime<Utc>,
    pub end_at: Option<DateTime<Utc>>,
    pub targeting: Targeting,
    pub creatives: Vec<Creative>,
    pub app_store_url: Option<String>,
    pub keywords: Vec<String>,
    pub job_id: JobId,
}

impl NewCampaign {
    /// Everything our schema says about a campaign that does not depend on its ad account.
    pub fn check(&self) -> Result<(), Invalid> {
        check_name(&self.name)?;
        check_budget(&self.daily_budget)?;
        if let Some(end) = self.end_at {
            check_end(end, self.start_at)?;
        }
        check_targeting(&self.targeting)?;
        for (i, c) in self.creatives.iter().enumerate() {
            check_text(c.headline.as_deref(), 255, Field::CreativeHeadline, i)?;
            check_text(c.caption.as_deref(), 2200, Field::CreativeCaption, i)?;
        }
        if let Some(url) = &self.app_store_url {
            let ok = url.len() <= 2048
                && layers_platforms::Url::parse(url)
                    .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
            if !ok {
                return Err(invalid(
                    Field::AppStoreUrl,
                    "the App Store URL must be an http(s) URL",
                ));
            }
        }
        if self.objective == Objective::AppInstalls && self.app_store_url.is_none() {
            return Err(invalid(
                Field::AppStoreUrl,
                "an app_installs campaign needs the App Store URL of the app",
            ));
        }
        Ok(())
    }

    /// What depends on the ad account: its platform (creatives, keywords) and its currency.
    pub fn check_for(&self, platform: AdPlatform, currency: &str) -> Result<(), Invalid> {
        if self.daily_budget.currency != currency {
            return Err(invalid(
                Field::BudgetCurrency,
                format!(
                    "the daily budget must be in the ad account's currency, {currency}, not {}",
                    self.daily_budget.currency
                ),
            ));
        }
        match platform {
            AdPlatform::AppleSearchAds => self.check_apple(),
            AdPlatform::Meta | AdPlatform::Tiktok => {
                if self.creatives.is_empty() || self.creatives.len() > MAX_CREATIVES {
                    return Err(invalid(
                        Field::Creatives,
                        format!(
                            "{} campaigns need 1 to {MAX_CREATIVES} creatives, got {}",
                            platform.as_str(),
                            self.creatives.len()
                        ),
                    ));
                }
                if !self.keywords.is_empty() {
                    return Err(invalid(
                        Field::Keywords,
                        "keywords are for Apple Search Ads campaigns only",
                    ));
                }
                Ok(())
            }
        }
    }

    fn check_apple(&self) -> Result<(), Invalid> {
        if !self.creatives.is_empty() {
            return Err(invalid(
                Field::Creatives,
                "Apple Search Ads campaigns take no creatives: the App Store product page is the ad",
            ));
        }
        if self.objective != Objective::AppInstalls {
            return Err(invalid(
                Field::Objective,
                "Apple Search Ads campaigns promote an app: the objective must be app_installs",
            ));
        }
        if self.keywords.is_empty() || self.keywords.len() > MAX_KEYWORDS {
            return Err(invalid(
                Field::Keywords,
                format!(
                    "Apple Search Ads campaigns need 1 to {MAX_KEYWORDS} keywords, got {}",
                    self.keywords.len()
                ),
            ));
        }
        for (i, k) in self.keywords.iter().enumerate() {
            if k.trim().is_empty() || k.chars().count() > 80 {
                return Err(invalid_at(
                    Field::Keywords,
                    i,
                    "a keyword must be 1 to 80 characters",
                ));
            }
        }
        Ok(())
    }
}

fn check_name(name: &str) -> Result<(), Invalid> {
    let n = name.trim().chars().count();
    if n == 0 || name.chars().count() > 200 {
        return Err(invalid(Field::Name, "the name must be 1 to 200 characters"));
    }
    Ok(())
}

fn check_budget(budget: &Budget) -> Result<(), Invalid> {
    if budget.amount <= 0 || budget.amount > MAX_BUDGET {
        return Err(invalid(
            Field::BudgetAmount,
            format!(
                "the daily budget must be above 0 and at most {MAX_BUDGET} (minor units), got {}",
                budget.amount
            ),
        ));
    }
    let c = &budget.currency;
    if c.len() != 3 || !c.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(invalid(
            Field::BudgetCurrency,
            "the currency must be an ISO 4217 code in upper case, like USD",
        ));
    }
    Ok(())
}

fn check_end(end: DateTime<Utc>, start: DateTime<Utc>) -> Result<(), Invalid> {
    if end <= start {
        return Err(invalid(Field::EndAt, "the end must be after the start"));
    }
    Ok(())
}

fn check_targeting(t: &Targeting) -> Result<(), Invalid> {
    if t.countries.is_empty() || t.countries.len() > MAX_COUNTRIES {
        return Err(invalid(
            Field::Countries,
            format!(
                "target 1 to {MAX_COUNTRIES} countries, got {}",
                t.countries.len()
            ),
        ));
    }
    for (i, c) in t.countries.iter().enumerate() {
        if !is_country(c) {
            return Err(invalid_at(
                Field::Countries,
                i,
                format!(
                    "{} is not an ISO 3166-1 alpha-2 country code (two upper-case letters, like US)",
                    c.chars().take(16).collect::<String>()
                ),
            ));
        }
    }
    for (field, age) in [(Field::AgeMin, t.age_min), (Field::AgeMax, t.age_max)] {
        if age.is_some_and(|a| !AGE_RANGE.contains(&a)) {
            return Err(invalid(field, "ages must be 13 to 65"));
        }
    }
    if let (Some(min), Some(max)) = (t.age_min, t.age_max) {
        if min > max {
            return Err(invalid(
                Field::AgeMin,
                format!("the youngest age ({min}) is above the oldest ({max})"),
            ));
        }
    }
    for (i, l) in t.languages.iter().enumerate() {
        if layers_projects::LanguageTag::parse(l).is_err() {
            return Err(invalid_at(
                Field::Languages,
                i,
                "a language must be a BCP 47 tag, like en or pt-BR",
            ));
        }
    }
    Ok(())
}

fn check_text(text: Option<&str>, max: usize, field: Field, index: usize) -> Result<(), Invalid> {
    if text.is_some_and(|t| t.chars().count() > max) {
        return Err(invalid_at(
            field,
            index,
            format!("at most {max} characters"),
        ));
    }
    Ok(())
}

/// A change to a campaign: an edit, or a status change.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    Edit {
        name: Option<String>,
        daily_budget: Option<Budget>,
        end_at: Option<DateTime<Utc>>,
    },
    Pause,
    Resume,
    Archive,
}

impl Change {
    /// What the change is called in a refusal ("paused", "edited").
    pub fn action(&self) -> &'static str {
        match self {
            Change::Edit { .. } => "edited",
            Change::Pause => "paused",
            Change::Resume => "resumed",
            Change::Archive => "archived",
        }
    }

    /// An edit names something, in the campaign's currency, and never ends before it starts.
    pub fn check(&self, start_at: DateTime<Utc>, currency: &str) -> Result<(), Invalid> {
        let Change::Edit {
            name,
            daily_budget,
            end_at,
        } = self
        else {
            return Ok(());
        };
        if name.is_none() && daily_budget.is_none() && end_at.is_none() {
            return Err(invalid(
                Field::Change,
                "name at least one of: the name, the daily budget, the end",
            ));
        }
        if let Some(name) = name {
            check_name(name)?;
        }
        if let Some(budget) = daily_budget {
            check_budget(budget)?;
            if budget.currency != currency {
                return Err(invalid(
                    Field::BudgetCurrency,
                    format!("the daily budget must stay in {currency}"),
                ));
            }
        }
        if let Some(end) = end_at {
            check_end(*end, start_at)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn campaign() -> NewCampaign {
        NewCampaign {
            id: CampaignId::new(),
            organization_id: OrgId::from_uuid(uuid::Uuid::nil()),
            api_key_id: None,
            project_id: uuid::Uuid::nil(),
            ad_account_id: AdAccountId::new(),
            name: "Launch".into(),
            objective: Objective::AppInstalls,
            daily_budget: Budget {
                amount: 5_000,
                currency: "USD".into(),
            },
            start_at: "2026-05-01T00:00:00Z".parse().unwrap(),
            end_at: None,
            targeting: Targeting {
                countries: vec!["US".into()],
                age_min: Some(18),
                age_max: Some(44),
                languages: vec!["en".into()],
            },
            creatives: vec![Creative {
                container_id: "cnt_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f".into(),
                headline: None,
                caption: None,
            }],
            app_store_url: Some("https://apps.apple.com/us/app/x/id1".into()),
            keywords: vec![],
            job_id: JobId::new(),
        }
    }

    fn field_of(c: &NewCampaign) -> Option<(Field, Option<usize>)> {
        c.check()
            .and_then(|()| c.check_for(AdPlatform::Meta, "USD"))
            .err()
            .map(|e| (e.field, e.index))
    }

    #[test]
    fn a_campaign_is_refused_naming_the_field() {
        assert_eq!(field_of(&campaign()), None);
        type Case = (fn(&mut NewCampaign), Field, Option<usize>);
        let cases: Vec<Case> = vec![
            (
                |c| c.targeting.countries.push("XX".into()),
                Field::Countries,
                Some(1),
            ),
            (|c| c.targeting.age_min = Some(50), Field::AgeMin, None),
            (|c| c.targeting.age_max = Some(70), Field::AgeMax, None),
            (|c| c.daily_budget.amount = 0, Field::BudgetAmount, None),
            (
                |c| c.daily_budget.currency = "EUR".into(),
                Field::BudgetCurrency,
                None,
            ),
            (|c| c.end_at = Some(c.start_at), Field::EndAt, None),
            (|c| c.app_store_url = None, Field::AppStoreUrl, None),
            (|c| c.creatives.clear(), Field::Creatives, None),
            (|c| c.keywords.push("planner".into()), Field::Keywords, None),
            (|c| c.name = " ".into(), Field::Name, None),
            (
                |c| c.targeting.languages.push("not a tag!".into()),
                Field::Languages,
                Some(1),
            ),
        ];
        for (change, field, index) in cases {
            let mut c = campaign();
            change(&mut c);
            assert_eq!(field_of(&c), Some((field, index)), "{c:?}");
        }
    }

    #[test]
    fn apple_search_ads_takes_keywords_and_no_creatives() {
        let mut c = campaign();
        let apple = |c: &NewCampaign| {
            c.check_for(AdPlatform::AppleSearchAds, "USD")
                .err()
                .map(|e| e.field)
        };
        assert_eq!(apple(&c), Some(Field::Creatives));
        c.creatives.clear();
        assert_eq!(apple(&c), Some(Field::Keywords));
        c.keywords = vec!["habit tracker".into()];
        assert_eq!(apple(&c), None);
        c.objective = Objective::Traffic;
        assert_eq!(apple(&c), Some(Field::Objective));
    }

    #[test]
    fn links_and_edits_are_checked() {
        let link = Link {
            id: AdAccountId::new(),
            organization_id: OrgId::from_uuid(uuid::Uuid::nil()),
            project_id: uuid::Uuid::nil(),
            platform: AdPlatform::Meta,
            external_id: "act_1".into(),
            social_account_id: None,
            credentials: None,
        };
        assert_eq!(link.check().unwrap_err().field, Field::SocialAccount);
        let apple = Link {
            platform: AdPlatform::AppleSearchAds,
            ..link.clone()
        };
        assert_eq!(apple.check().unwrap_err().field, Field::Credentials);
        let start = "2026-05-01T00:00:00Z".parse().unwrap();
        let empty = Change::Edit {
            name: None,
            daily_budget: None,
            end_at: None,
        };
        assert_eq!(empty.check(start, "USD").unwrap_err().field, Field::Change);
        let other_currency = Change::Edit {
            name: None,
            daily_budget: Some(Budget {
                amount: 1,
                currency: "EUR".into(),
            }),
            end_at: None,
        };
        assert_eq!(
            other_currency.check(start, "USD").unwrap_err().field,
            Field::BudgetCurrency
        );
        assert!(Change::Pause.check(start, "USD").is_ok());
    }

    #[test]
    fn countries_are_the_assigned_codes() {
        assert_eq!(COUNTRIES.split_ascii_whitespace().count(), 249);
        assert!(is_country("US") && is_country("GB") && is_country("SS"));
        assert!(!is_country("us") && !is_country("UK") && !is_country("XX") && !is_country("USA"));
    }
}
