//! The event catalogue (CONTRACT §10) in the document: a schema for each event's `data`, an
//! envelope per event type (`JobSucceededEvent`, …: `type` a `const`, `data` that type's
//! schema), `Event` (the events routes' item) a `oneOf` of the envelopes discriminated on
//! `type`, and the OpenAPI 3.1 `webhooks` section: one `post` per type, its description
//! [`EventType::summary`], its example built from [`layers_webhooks::example_data`].
//!
//! The domain crates write their events' `data` as JSON without utoipa, so the data schemas
//! are built here by hand. `tests/tests/api/openapi.rs` holds each against `example_data` (its
//! keys are the schema's properties, the schema's required properties are in it), so the two
//! cannot drift apart unnoticed, and holds every type's envelope as the sandbox really emits it
//! (routes and magic values) against `Event`.

use std::collections::BTreeMap;

use layers_webhooks::EventType;
use serde_json::{json, Value};
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::schema::{
    Discriminator, KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::{OpenApi as Document, Ref, RefOr, Schema};

/// The endpoint id the webhooks' examples of `test.ping` carry.
const EXAMPLE_ENDPOINT: &str = "wh_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f";

/// Adds the data schemas, the envelopes, `Event` and `webhooks` to `doc`. Runs after the
/// routes' schemas are in (`Job`, `TestClock`, `TargetError`, … are referred to, not copied).
pub(super) fn add(doc: &mut Document) {
    let components = doc.components.get_or_insert_with(Default::default);
    let schemas = &mut components.schemas;
    for (name, schema) in data_schemas() {
        let old = schemas.insert(name.to_owned(), schema);
        assert!(old.is_none(), "the event schema {name} is named twice");
    }
    schemas.insert("EventMeta".to_owned(), meta().into());
    let mut one_of = OneOfBuilder::new()
        .description(Some(
            "An event, exactly as delivered: one of the catalogue's envelopes, told apart by \
             `type`. `meta` appears only for sandbox events.",
        ))
        .discriminator(Some(Discriminator::with_mapping(
            "type",
            EventType::ALL.map(|t| (t.as_str(), reference(&envelope_name(t)))),
        )));
    for t in EventType::ALL {
        let name = envelope_name(t);
        let referred = data_schema(t);
        assert!(
            schemas.contains_key(referred),
            "{t}'s data schema {referred} is in the document"
        );
        let old = schemas.insert(name.clone(), envelope(t).into());
        assert!(old.is_none(), "the envelope {name} is named twice");
        one_of = one_of.item(Ref::from_schema_name(name));
    }
    schemas.insert("Event".to_owned(), one_of.into());
    let webhooks: BTreeMap<&str, Value> = EventType::ALL
        .into_iter()
        .map(|t| (t.as_str(), webhook(t)))
        .collect();
    doc.extensions
        .get_or_insert_with(Extensions::default)
        .insert("webhooks".to_owned(), json!(webhooks));
}

/// The name of `t`'s envelope schema: `JobSucceededEvent` for `job.succeeded`.
fn envelope_name(t: EventType) -> String {
    format!("{t:?}Event")
}

/// The name of the schema of `t`'s `data`. No wildcard: a new type does not compile until its
/// data is documented.
fn data_schema(t: EventType) -> &'static str {
    match t {
        EventType::TestPing => "TestPingData",
        EventType::JobSucceeded | EventType::JobFailed | EventType::JobCanceled => "Job",
        EventType::ContentCompleted | EventType::ContentFailed => "ContentEventData",
        EventType::SocialAccountConnected
        | EventType::SocialAccountDisconnected
        | EventType::SocialAccountNeedsReauth => "SocialAccountEventData",
        EventType::PostPublished | EventType::PostFailed => "PostEventData",
        EventType::TestClockAdvancing | EventType::TestClockReady => "TestClock",
        EventType::AdsCampaignCreated
        | EventType::AdsCampaignUpdated
        | EventType::AdsCampaignFailed => "CampaignEventData",
    }
}

fn reference(name: &str) -> String {
    format!("#/components/schemas/{name}")
}

fn string(example: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .examples([example])
}

fn nullable_string(example: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(SchemaType::Array(vec![Type::String, Type::Null]))
        .examples([example])
}

fn one_of_strings<'a>(values: impl IntoIterator<Item = &'a str>) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values))
}

/// The schemas of the types' `data` that no route already has (`Job` and `TestClock` do).
fn data_schemas() -> [(&'static str, RefOr<Schema>); 5] {
    [
        ("TestPingData", ping_data()),
        ("ContentEventData", content_data()),
        ("SocialAccountEventData", account_data()),
        ("PostEventData", post_data()),
        ("CampaignEventData", campaign_data()),
    ]
}

/// An object of `properties`, the `required` ones first.
fn object(
    description: &str,
    required: &[(&str, RefOr<Schema>)],
    optional: &[(&str, RefOr<Schema>)],
) -> RefOr<Schema> {
    let mut object = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(description));
    for (name, schema) in required {
        object = object.property(*name, schema.clone()).required(*name);
    }
    for (name, schema) in optional {
        object = object.property(*name, schema.clone());
    }
    object.into()
}

fn project() -> RefOr<Schema> {
    string("proj_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f").into()
}

fn container() -> RefOr<Schema> {
    string("cnt_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f").into()
}

fn account() -> RefOr<Schema> {
    string("sa_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f").into()
}

fn named(name: &str) -> RefOr<Schema> {
    Ref::from_schema_name(name).into()
}

/// `test.ping` (`POST …/test`).
fn ping_data() -> RefOr<Schema> {
    object(
        "The `data` of `test.ping`: the endpoint it was fired at.",
        &[("endpointId", string(EXAMPLE_ENDPOINT).into())],
        &[],
    )
}

/// `layers_content`'s `event_data`.
fn content_data() -> RefOr<Schema> {
    let job = nullable_string("job_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")
        .description(Some("The job that made it; `null` for an upload."));
    let format = string("image").description(Some(
        "`slideshow`, `video-remix`, `ugc-creative`, `image` or `video` (uploads).",
    ));
    object(
        "The `data` of `content.completed` and `content.failed`: one container.",
        &[
            ("containerId", container()),
            ("projectId", project()),
            ("jobId", job.into()),
            ("format", format.into()),
            ("status", one_of_strings(["completed", "failed"]).into()),
        ],
        &[],
    )
}

/// `layers_social`'s `AccountEvent`.
fn account_data() -> RefOr<Schema> {
    object(
        "The `data` of `social_account.connected`, `social_account.disconnected` and \
         `social_account.needs_reauth`.",
        &[
            ("socialAccountId", account()),
            ("projectId", project()),
            ("platform", named("SocialPlatform")),
            ("handle", string("sandbox_instagram").into()),
        ],
        &[],
    )
}

/// `layers_publishing`'s `PostEvent`.
fn post_data() -> RefOr<Schema> {
    let index = ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32)))
        .minimum(Some(0))
        .description(Some("The target's index in the post's `targets`."));
    let external_id = nullable_string("sb_post_cnt_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f_0")
        .description(Some(
            "The platform's id of the post; `null` when it failed.",
        ));
    let external_url = nullable_string("https://www.instagram.com/p/sb_post_0196b1e4c9a37c2d");
    object(
        "The `data` of `post.published` and `post.failed`: one target of a scheduled post \
         (`error` only when it failed).",
        &[
            (
                "scheduledPostId",
                string("sp_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f").into(),
            ),
            ("containerId", container()),
            ("socialAccountId", account()),
            ("platform", named("SocialPlatform")),
            ("targetIndex", index.into()),
            ("externalId", external_id.into()),
            ("externalUrl", external_url.into()),
        ],
        &[("error", named("TargetError"))],
    )
}

/// `layers_ads`'s `EventData`.
fn campaign_data() -> RefOr<Schema> {
    use layers_ads::{AdPlatform, CampaignStatus};
    let statuses = [
        CampaignStatus::Pending,
        CampaignStatus::Active,
        CampaignStatus::Paused,
        CampaignStatus::Failed,
        CampaignStatus::Archived,
    ];
    object(
        "The `data` of `ads_campaign.created`, `ads_campaign.updated` and \
         `ads_campaign.failed`: the campaign as it now stands (`error` only when it failed).",
        &[
            (
                "campaignId",
                string("cmp_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f").into(),
            ),
            ("projectId", project()),
            (
                "platform",
                one_of_strings(AdPlatform::ALL.map(AdPlatform::as_str)).into(),
            ),
            (
                "status",
                one_of_strings(statuses.map(CampaignStatus::as_str)).into(),
            ),
            ("externalIds", named("AdExternalIds")),
        ],
        &[("error", named("CampaignError"))],
    )
}

/// `meta`: `{sandbox: true}` on sandbox events.
fn meta() -> ObjectBuilder {
    let sandbox = ObjectBuilder::new()
        .schema_type(Type::Boolean)
        .extensions(Some(Extensions::from_iter([("const", true)])));
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(
            "`{sandbox: true}` on the events of test keys; live events have no `meta`.",
        ))
        .property("sandbox", sandbox)
        .required("sandbox")
}

/// The envelope of `t`: `{id, type, apiVersion, createdAt, meta?, data}`.
fn envelope(t: EventType) -> ObjectBuilder {
    let type_name = ObjectBuilder::new()
        .schema_type(Type::String)
        .extensions(Some(Extensions::from_iter([("const", t.as_str())])));
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(format!("`{t}`: {}", t.summary())))
        .property("id", string("evt_01JTTW0V4K6X9B3M2N5P7Q8R1S"))
        .property("type", type_name)
        .property(
            "apiVersion",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .extensions(Some(Extensions::from_iter([("const", "v1")]))),
        )
        .property(
            "createdAt",
            string("2026-05-08T12:00:00.000Z")
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))),
        )
        .property("meta", Ref::from_schema_name("EventMeta"))
        .property("data", Ref::from_schema_name(data_schema(t)))
        .required("id")
        .required("type")
        .required("apiVersion")
        .required("createdAt")
        .required("data")
}

/// An example envelope of `t`, as a test key's endpoint receives it.
fn example(t: EventType) -> Value {
    json!({
        "id": "evt_01JTTW0V4K6X9B3M2N5P7Q8R1S",
        "type": t.as_str(),
        "apiVersion": "v1",
        "createdAt": "2026-05-08T12:00:00.000Z",
        "meta": {"sandbox": true},
        "data": layers_webhooks::example_data(t, EXAMPLE_ENDPOINT),
    })
}

/// `webhooks[t]`: what an endpoint subscribed to `t` receives.
fn webhook(t: EventType) -> Value {
    let name = envelope_name(t);
    let operation_id = format!("{}{}", name[..1].to_lowercase(), &name[1..]);
    json!({"post": {
        "operationId": operation_id,
        "summary": t.as_str(),
        "description": format!(
            "{} Sent to every endpoint of the event's environment subscribed to `{t}` (or \
             `*`), signed, at least once: deduplicate on the event id.",
            t.summary()
        ),
        "tags": ["Webhooks"],
        "security": [],
        "parameters": delivery_headers(t),
        "requestBody": {
            "required": true,
            "content": {"application/json": {
                "schema": {"$ref": reference(&name)},
                "example": example(t),
            }},
        },
        "responses": {
            "2XX": {"description": "Received: the delivery succeeded (the body is ignored)."},
            "4XX": {"description": "A failed attempt, as is a 3xx (redirects are not \
                followed), a 5xx, or no answer within 10 s: the delivery is retried."},
        },
    }})
}

/// The headers every delivery carries (CONTRACT §10).
fn delivery_headers(t: EventType) -> Value {
    let header = |name: &str, description: &str, example: &str| {
        json!({
            "name": name,
            "in": "header",
            "required": true,
            "description": description,
            "schema": {"type": "string"},
            "example": example,
        })
    };
    json!([
        header(
            "X-Layers-Signature",
            "`t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<raw body>\">`, keyed with the \
             endpoint's secret string; one `v1=` per valid secret during a rotation.",
            "t=1778241600,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd",
        ),
        header(
            "X-Layers-Event-Id",
            "The event's id.",
            "evt_01JTTW0V4K6X9B3M2N5P7Q8R1S"
        ),
        header("X-Layers-Event-Type", "The event's type.", t.as_str()),
        header(
            "webhook-id",
            "Standard Webhooks: the event's id.",
            "evt_01JTTW0V4K6X9B3M2N5P7Q8R1S",
        ),
        header(
            "webhook-timestamp",
            "Standard Webhooks: unix seconds.",
            "1778241600"
        ),
        header(
            "webhook-signature",
            "Standard Webhooks: `v1,<base64 HMAC-SHA256 of \"<id>.<timestamp>.<raw body>\">`, \
             keyed with the base64-decoded part of the secret after `whsec_`; one per valid \
             secret, space-separated.",
            "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
        ),
    ])
}
