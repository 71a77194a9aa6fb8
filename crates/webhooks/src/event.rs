//! Events: ids (`evt_` + ULID), the type names of CONTRACT §10 and the envelope that is delivered.

use std::{fmt, str::FromStr};

use chrono::{DateTime, SecondsFormat, Utc};
use layers_core::EnvKind;
use ring::rand::SecureRandom;
use serde::Serialize;

use crate::{Error, Result};

/// The `apiVersion` of every envelope.
pub const API_VERSION: &str = "v1";

const EVENT_ID_PREFIX: &str = "evt_";

/// An event id, `evt_` + a ULID: 48 bits of milliseconds then 80 random bits, in Crockford
/// base32, so ids sort by creation time.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventId(ulid::Ulid);

impl EventId {
    /// A new id at the current time with 80 bits from the CSPRNG.
    pub fn generate(rng: &dyn SecureRandom) -> EventId {
        EventId::at(Utc::now(), rng)
    }

    /// A new id at `time` (milliseconds before 1970 count as 0).
    pub fn at(time: DateTime<Utc>, rng: &dyn SecureRandom) -> EventId {
        let mut random = [0u8; 16];
        rng.fill(&mut random[6..])
            .expect("the system CSPRNG failed");
        let millis = u64::try_from(time.timestamp_millis()).unwrap_or(0);
        EventId(ulid::Ulid::from_parts(millis, u128::from_be_bytes(random)))
    }

    pub fn parse(s: &str) -> Result<EventId> {
        let ulid = s
            .strip_prefix(EVENT_ID_PREFIX)
            .ok_or(Error::MalformedEventId)?;
        let parsed = ulid::Ulid::from_string(ulid).map_err(|_| Error::MalformedEventId)?;
        // Only the canonical form, so an id has one spelling: this refuses lower case, the
        // Crockford look-alikes (I, L, O) and a first character above 7 (which the decoder
        // wraps past 128 bits).
        let mut canonical = [0u8; ulid::ULID_LEN];
        if parsed.array_to_str(&mut canonical) != ulid {
            return Err(Error::MalformedEventId);
        }
        Ok(EventId(parsed))
    }

    /// The id's 128 bits as a UUID, the form the database stores (byte order is time order).
    #[cfg(feature = "store")]
    pub fn as_uuid(&self) -> uuid::Uuid {
        uuid::Uuid::from_u128(self.0 .0)
    }

    /// The id stored as [`EventId::as_uuid`].
    #[cfg(feature = "store")]
    pub fn from_uuid(uuid: uuid::Uuid) -> EventId {
        EventId(ulid::Ulid(uuid.as_u128()))
    }

    /// Milliseconds since the Unix epoch when the id was made.
    pub fn timestamp_ms(&self) -> u64 {
        self.0.timestamp_ms()
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{EVENT_ID_PREFIX}{}", self.0)
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventId({self})")
    }
}

impl FromStr for EventId {
    type Err = Error;

    fn from_str(s: &str) -> Result<EventId> {
        EventId::parse(s)
    }
}

/// The event types of CONTRACT §10.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventType {
    TestPing,
    JobSucceeded,
    JobFailed,
    JobCanceled,
    ContentCompleted,
    ContentFailed,
    SocialAccountConnected,
    SocialAccountDisconnected,
    SocialAccountNeedsReauth,
    PostPublished,
    PostFailed,
    TestClockAdvancing,
    TestClockReady,
    AdsCampaignCreated,
    AdsCampaignUpdated,
    AdsCampaignFailed,
}

impl EventType {
    pub const ALL: [EventType; 16] = [
        EventType::TestPing,
        EventType::JobSucceeded,
        EventType::JobFailed,
        EventType::JobCanceled,
        EventType::ContentCompleted,
        EventType::ContentFailed,
        EventType::SocialAccountConnected,
        EventType::SocialAccountDisconnected,
        EventType::SocialAccountNeedsReauth,
        EventType::PostPublished,
        EventType::PostFailed,
        EventType::TestClockAdvancing,
        EventType::TestClockReady,
        EventType::AdsCampaignCreated,
        EventType::AdsCampaignUpdated,
        EventType::AdsCampaignFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::TestPing => "test.ping",
            EventType::JobSucceeded => "job.succeeded",
            EventType::JobFailed => "job.failed",
            EventType::JobCanceled => "job.canceled",
            EventType::ContentCompleted => "content.completed",
            EventType::ContentFailed => "content.failed",
            EventType::SocialAccountConnected => "social_account.connected",
            EventType::SocialAccountDisconnected => "social_account.disconnected",
            EventType::SocialAccountNeedsReauth => "social_account.needs_reauth",
            EventType::PostPublished => "post.published",
            EventType::PostFailed => "post.failed",
            EventType::TestClockAdvancing => "test_helpers.test_clock.advancing",
            EventType::TestClockReady => "test_helpers.test_clock.ready",
            EventType::AdsCampaignCreated => "ads_campaign.created",
            EventType::AdsCampaignUpdated => "ads_campaign.updated",
            EventType::AdsCampaignFailed => "ads_campaign.failed",
        }
    }

    /// When an event of this type is sent, for a person (the catalogue's words).
    pub fn summary(self) -> &'static str {
        match self {
            EventType::TestPing => "`POST /v1/webhook-endpoints/{id}/test` asks for it: to that endpoint only.",
            EventType::JobSucceeded => "A job ended with its result (`data` is the job object).",
            EventType::JobFailed => "A job ended without its result; `error {code, message}` says why, and what it was charged is refunded.",
            EventType::JobCanceled => "A job was canceled before it finished.",
            EventType::ContentCompleted => "A container's media is ready: one per container.",
            EventType::ContentFailed => "A container could not be made: one per container.",
            EventType::SocialAccountConnected => "An account was connected (or connected again).",
            EventType::SocialAccountDisconnected => "An account was disconnected.",
            EventType::SocialAccountNeedsReauth => "An account's token expired or was revoked: connect it again before publishing through it.",
            EventType::PostPublished => "A post's target was published on its platform: one per target.",
            EventType::PostFailed => "A post's target was not published; `error {code, message}` is the platform's answer.",
            EventType::TestClockAdvancing => "A test clock started to advance (test keys only).",
            EventType::TestClockReady => "A test clock's advance has run everything that became due (test keys only).",
            EventType::AdsCampaignCreated => "A campaign exists on its platform and is `active`.",
            EventType::AdsCampaignUpdated => "A campaign's change (edit, pause, resume, archive) was applied.",
            EventType::AdsCampaignFailed => "A campaign could not be created; `error {code, message}` is the platform's answer.",
        }
    }

    /// Reads a type name exactly as the contract spells it. The error quotes at most 64
    /// characters of the input.
    pub fn parse(s: &str) -> Result<EventType> {
        EventType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| Error::UnknownEventType(s.chars().take(64).collect()))
    }
}

/// Every type name, comma-separated (what an unknown type's error lists).
pub(crate) fn names() -> String {
    EventType::ALL.map(EventType::as_str).join(", ")
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventType {
    type Err = Error;

    fn from_str(s: &str) -> Result<EventType> {
        EventType::parse(s)
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a> {
    id: String,
    #[serde(rename = "type")]
    event_type: &'static str,
    api_version: &'a str,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    meta: Option<Meta>,
    data: serde_json::Value,
}

#[derive(Serialize)]
struct Meta {
    sandbox: bool,
}

/// The envelope of CONTRACT §10 as the exact bytes that are stored, signed and delivered:
/// `{id, type, apiVersion: "v1", createdAt, meta?: {sandbox: true}, data}`, in that order, with
/// `createdAt` in RFC 3339 UTC with milliseconds. `meta` appears only for sandbox events.
pub fn envelope_json(
    id: &EventId,
    event_type: EventType,
    created_at: DateTime<Utc>,
    env: EnvKind,
    data: serde_json::Value,
) -> Vec<u8> {
    let envelope = Envelope {
        id: id.to_string(),
        event_type: event_type.as_str(),
        api_version: API_VERSION,
        created_at: created_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        meta: env.is_sandbox().then_some(Meta { sandbox: true }),
        data,
    };
    serde_json::to_vec(&envelope).expect("an envelope of strings and a JSON value serializes")
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use ring::rand::SystemRandom;
    use serde_json::json;

    use super::*;

    fn fixed_id() -> EventId {
        EventId::parse("evt_01HZX3K7Q8M9N0P1R2S3T4V5W6").unwrap()
    }

    #[test]
    fn event_ids_are_evt_and_a_ulid_and_parse_back() {
        let rng = SystemRandom::new();
        let id = EventId::generate(&rng);
        let text = id.to_string();
        assert!(text.starts_with("evt_"));
        assert_eq!(text.len(), 4 + 26);
        assert!(
            text[4..]
                .bytes()
                .all(|b| b"0123456789ABCDEFGHJKMNPQRSTVWXYZ".contains(&b)),
            "{text}"
        );
        assert_eq!(EventId::parse(&text), Ok(id));
        assert_eq!(text.parse::<EventId>(), Ok(id));
        assert_ne!(EventId::generate(&rng), id);
    }

    #[test]
    fn event_ids_carry_their_time_and_sort_by_it() {
        let rng = SystemRandom::new();
        let t1 = Utc.timestamp_millis_opt(1_700_000_000_123).unwrap();
        let t2 = Utc.timestamp_millis_opt(1_700_000_000_124).unwrap();
        let (a, b) = (EventId::at(t1, &rng), EventId::at(t2, &rng));
        assert_eq!(a.timestamp_ms(), 1_700_000_000_123);
        assert!(a < b);
        assert!(a.to_string() < b.to_string());
        assert_eq!(
            EventId::at(Utc.timestamp_millis_opt(-5).unwrap(), &rng).timestamp_ms(),
            0
        );
    }

    #[test]
    fn malformed_event_ids_are_refused() {
        for bad in [
            "",
            "evt_",
            "01HZX3K7Q8M9N0P1R2S3T4V5W6",
            "wh_01HZX3K7Q8M9N0P1R2S3T4V5W6",
            "evt_01HZX3K7Q8M9N0P1R2S3T4V5W",
            "evt_01HZX3K7Q8M9N0P1R2S3T4V5W67",
            "evt_01hzx3k7q8m9n0p1r2s3t4v5w6",
            "evt_01HZX3K7Q8M9N0P1R2S3T4V5WU",
            "evt_81HZX3K7Q8M9N0P1R2S3T4V5W6",
            "evt_01HZX3K7Q8M9N0P1R2S3T4V5Wé",
            "evt_0IHZX3K7Q8M9N0P1R2S3T4V5W6",
            "evt_O1HZX3K7Q8M9N0P1R2S3T4V5W6",
        ] {
            assert_eq!(EventId::parse(bad), Err(Error::MalformedEventId), "{bad:?}");
        }
    }

    #[test]
    fn event_types_are_the_contract_names() {
        let names: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(
            names,
            [
                "test.ping",
                "job.succeeded",
                "job.failed",
                "job.canceled",
                "content.completed",
                "content.failed",
                "social_account.connected",
                "social_account.disconnected",
                "social_account.needs_reauth",
                "post.published",
                "post.failed",
                "test_helpers.test_clock.advancing",
                "test_helpers.test_clock.ready",
                "ads_campaign.created",
                "ads_campaign.updated",
                "ads_campaign.failed"
            ]
        );
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Ok(t));
            assert_eq!(t.to_string().parse::<EventType>(), Ok(t));
        }
        assert_eq!(
            EventType::parse("Job.Succeeded"),
            Err(Error::UnknownEventType("Job.Succeeded".into()))
        );
        assert_eq!(
            EventType::parse("*"),
            Err(Error::UnknownEventType("*".into()))
        );
        let long = "x".repeat(1000);
        assert_eq!(
            EventType::parse(&long),
            Err(Error::UnknownEventType("x".repeat(64)))
        );
    }

    #[test]
    fn live_envelope_is_exact_and_has_no_meta() {
        let created = Utc.timestamp_millis_opt(1_700_000_000_007).unwrap();
        let body = envelope_json(
            &fixed_id(),
            EventType::JobSucceeded,
            created,
            EnvKind::Live,
            json!({"id": "job_1", "status": "succeeded"}),
        );
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"id":"evt_01HZX3K7Q8M9N0P1R2S3T4V5W6","type":"job.succeeded","apiVersion":"v1","createdAt":"2023-11-14T22:13:20.007Z","data":{"id":"job_1","status":"succeeded"}}"#
        );
    }

    #[test]
    fn sandbox_envelope_carries_meta_sandbox_true() {
        let created = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        let body = envelope_json(
            &fixed_id(),
            EventType::TestPing,
            created,
            EnvKind::Sandbox,
            json!({"endpointId": "wh_1"}),
        );
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"id":"evt_01HZX3K7Q8M9N0P1R2S3T4V5W6","type":"test.ping","apiVersion":"v1","createdAt":"2023-11-14T22:13:20.000Z","meta":{"sandbox":true},"data":{"endpointId":"wh_1"}}"#
        );
    }
}
