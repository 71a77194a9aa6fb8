//! The live ads clients (CONTRACT §13): reading an ad account, creating a campaign (campaign,
//! ad set or ad group, creatives, ads or keywords) and undoing it when a step fails, changing
//! it, and reading its daily spend and results, on Meta (Marketing API), TikTok for Business
//! (Business API v1.3) and Apple Search Ads (API v5).

pub(crate) mod apple;
mod jwt;
pub(crate) mod meta;
mod money;
pub(crate) mod tiktok;

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{PlatformError, Result};
use crate::Clients;

/// Who we are to an ads platform. `Debug` never shows a token or a key.
#[derive(Clone)]
pub enum AdsAuth {
    /// An Instagram (Meta) user token granted with the ads scopes.
    Meta { access_token: String },
    /// A TikTok for Business token.
    Tiktok { access_token: String },
    /// The partner's own Apple Search Ads API credentials.
    Apple(AppleCredentials),
}

impl fmt::Debug for AdsAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdsAuth::Meta { .. } => f.write_str("Meta { access_token: <redacted> }"),
            AdsAuth::Tiktok { .. } => f.write_str("Tiktok { access_token: <redacted> }"),
            AdsAuth::Apple(credentials) => f.debug_tuple("Apple").field(credentials).finish(),
        }
    }
}

/// An Apple Search Ads API user: the client, team and key ids Apple shows for the uploaded
/// public key, and the private key (PKCS#8 PEM, P-256). `Debug` never shows the key.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppleCredentials {
    pub client_id: String,
    pub team_id: String,
    pub key_id: String,
    pub private_key_pem: String,
}

impl AppleCredentials {
    /// Whether these credentials can sign a client secret: ids set and the key a PKCS#8 P-256
    /// private key. Makes no call; the error says what is wrong.
    pub fn check(&self) -> Result<(), String> {
        for (name, value) in [
            ("client_id", &self.client_id),
            ("team_id", &self.team_id),
            ("key_id", &self.key_id),
        ] {
            if value.trim().is_empty() {
                return Err(format!("{name} is empty"));
            }
        }
        jwt::key_pair(&self.private_key_pem).map(|_| ())
    }
}

impl fmt::Debug for AppleCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppleCredentials")
            .field("client_id", &self.client_id)
            .field("team_id", &self.team_id)
            .field("key_id", &self.key_id)
            .field("private_key_pem", &"<redacted>")
            .finish()
    }
}

/// An ad account as its platform describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdAccountInfo {
    pub name: String,
    /// ISO 4217, as the platform says it.
    pub currency: String,
    /// An IANA time zone name, as the platform says it.
    pub timezone: String,
}

/// What a campaign is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Objective {
    AppInstalls,
    Traffic,
    Awareness,
}

/// A campaign to create. Amounts are in minor units of `currency`.
#[derive(Clone, Debug, PartialEq)]
pub struct CampaignSpec {
    pub name: String,
    pub objective: Objective,
    pub daily_budget_minor: i64,
    pub currency: String,
    pub start_at: DateTime<Utc>,
    pub end_at: Option<DateTime<Utc>>,
    /// ISO 3166 alpha-2 codes.
    pub countries: Vec<String>,
    pub age_min: Option<u8>,
    pub age_max: Option<u8>,
    pub languages: Vec<String>,
    /// Meta and TikTok: one ad each; Apple ignores them (search ads show the App Store page).
    pub creatives: Vec<Creative>,
    /// The App Store (or Play) page: the link of the ads, and for Apple the app itself.
    pub app_store_url: Option<String>,
    /// Apple only: the search terms bid on.
    pub keywords: Vec<String>,
    /// Meta: the Instagram user id of the connected account the ads run as; TikTok: unused.
    pub identity: Option<String>,
}

/// One ad's media and words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Creative {
    pub media_url: String,
    pub is_video: bool,
    pub headline: Option<String>,
    pub caption: Option<String>,
}

/// The platform's ids of a created campaign. Apple: `ad_set` is the ad group, `ads` the
/// keywords.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ExternalIds {
    pub campaign: String,
    pub ad_set: String,
    pub ads: Vec<String>,
}

/// A change to a running campaign.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CampaignChange {
    Rename(String),
    DailyBudget {
        minor: i64,
        currency: String,
    },
    /// `None`: runs until stopped.
    EndAt(Option<DateTime<Utc>>),
    Pause,
    Resume,
    /// Stops it for good (Meta archives it, TikTok and Apple delete it).
    Archive,
}

/// A campaign's totals for one day, spend in minor units.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdDay {
    pub date: NaiveDate,
    pub spend_minor: i64,
    pub impressions: i64,
    pub clicks: i64,
    pub installs: i64,
}

impl Clients {
    /// Reads the ad account `external_id` (Meta `act_<digits>` or the digits, TikTok advertiser
    /// id, Apple organization id): reachable with `auth`, and its name, currency and time zone.
    pub async fn ad_account(&self, auth: &AdsAuth, external_id: &str) -> Result<AdAccountInfo> {
        match auth {
            AdsAuth::Meta { access_token } => meta::account(self, access_token, external_id).await,
            AdsAuth::Tiktok { access_token } => {
                tiktok::account(self, access_token, external_id).await
            }
            AdsAuth::Apple(credentials) => apple::account(self, credentials, external_id).await,
        }
    }

    /// Creates `spec` in the ad account, running from its start. When a step fails, what was
    /// created is deleted again (newest first, best effort) and the step's error is returned,
    /// with the platform's own message.
    pub async fn create_campaign(
        &self,
        auth: &AdsAuth,
        external_id: &str,
        spec: &CampaignSpec,
    ) -> Result<ExternalIds> {
        match auth {
            AdsAuth::Meta { access_token } => {
                meta::create(self, access_token, external_id, spec).await
            }
            AdsAuth::Tiktok { access_token } => {
                tiktok::create(self, access_token, external_id, spec).await
            }
            AdsAuth::Apple(credentials) => {
                apple::create(self, credentials, external_id, spec).await
            }
        }
    }

    /// Applies `change` to the campaign `ids` created in the ad account `external_id`. The
    /// budget and the end are the ad set's (ad group's) on Meta and TikTok, the campaign's on
    /// Apple.
    pub async fn update_campaign(
        &self,
        auth: &AdsAuth,
        external_id: &str,
        ids: &ExternalIds,
        change: &CampaignChange,
    ) -> Result<()> {
        match auth {
            AdsAuth::Meta { access_token } => meta::update(self, access_token, ids, change).await,
            AdsAuth::Tiktok { access_token } => {
                tiktok::update(self, access_token, external_id, ids, change).await
            }
            AdsAuth::Apple(credentials) => {
                apple::update(self, credentials, external_id, ids, change).await
            }
        }
    }

    /// The campaign's days from `from` to `to` (both included, at most 90 days apart as the
    /// platforms allow), oldest first, spend in minor units of `currency` (the account's).
    /// Days the platform reports nothing for are left out.
    pub async fn campaign_days(
        &self,
        auth: &AdsAuth,
        external_id: &str,
        ids: &ExternalIds,
        currency: &str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<AdDay>> {
        let rows = match auth {
            AdsAuth::Meta { access_token } => {
                meta::days(self, access_token, ids, currency, from, to).await?
            }
            AdsAuth::Tiktok { access_token } => {
                tiktok::days(self, access_token, external_id, ids, currency, (from, to)).await?
            }
            AdsAuth::Apple(credentials) => {
                apple::days(self, credentials, external_id, ids, currency, (from, to)).await?
            }
        };
        Ok(merge(rows))
    }
}

/// Days summed by date, oldest first.
fn merge(rows: Vec<AdDay>) -> Vec<AdDay> {
    let mut days: BTreeMap<NaiveDate, AdDay> = BTreeMap::new();
    for row in rows {
        days.entry(row.date)
            .and_modify(|day| {
                day.spend_minor += row.spend_minor;
                day.impressions += row.impressions;
                day.clicks += row.clicks;
                day.installs += row.installs;
            })
            .or_insert(row);
    }
    days.into_values().collect()
}

/// Refuses a spec that cannot make ads, before any call.
fn need_creatives(spec: &CampaignSpec) -> Result<()> {
    if spec.creatives.is_empty() {
        return Err(PlatformError::rejected(
            422,
            "the campaign needs at least one creative",
        ));
    }
    Ok(())
}

/// `value` without its null fields, at every depth (optional fields the platforms would
/// refuse as null).
fn compact(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(fields) => fields
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k, compact(v)))
            .collect(),
        serde_json::Value::Array(items) => items.into_iter().map(compact).collect(),
        other => other,
    }
}

/// A day written `YYYY-MM-DD` (or starting so), else `Malformed`.
fn date(who: &str, value: &serde_json::Value) -> Result<NaiveDate> {
    value
        .as_str()
        .and_then(|s| s.get(..10))
        .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
        .ok_or_else(|| PlatformError::Malformed(format!("{who} reported a day without a date")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_tokens_and_keys() {
        let apple = AdsAuth::Apple(AppleCredentials {
            client_id: "SEARCHADS.abc".into(),
            team_id: "SEARCHADS.abc".into(),
            key_id: "key-1".into(),
            private_key_pem: "-----BEGIN PRIVATE KEY-----\nsecretstuff\n".into(),
        });
        let shown = format!("{apple:?}");
        assert!(
            shown.contains("key-1") && !shown.contains("secretstuff"),
            "{shown}"
        );
        let meta = format!(
            "{:?}",
            AdsAuth::Meta {
                access_token: "EAAsecret".into()
            }
        );
        assert!(!meta.contains("EAAsecret"), "{meta}");
    }

    #[test]
    fn days_are_summed_by_date_oldest_first() {
        let day = |d: u32, spend: i64| AdDay {
            date: NaiveDate::from_ymd_opt(2025, 3, d).unwrap(),
            spend_minor: spend,
            impressions: 10,
            clicks: 1,
            installs: 0,
        };
        let merged = merge(vec![day(2, 5), day(1, 7), day(2, 3)]);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0].spend_minor, 7);
        assert_eq!((merged[1].spend_minor, merged[1].impressions), (8, 20));
    }

    #[test]
    fn compact_drops_nulls_at_every_depth() {
        let value = serde_json::json!({"a": null, "b": {"c": null, "d": 1}, "e": [{"f": null}]});
        assert_eq!(
            compact(value),
            serde_json::json!({"b": {"d": 1}, "e": [{}]})
        );
    }
}
