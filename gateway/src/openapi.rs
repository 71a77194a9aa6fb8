//! The OpenAPI 3.1 document, generated from the code and served at `GET /v1/openapi.json`.
//!
//! Each handler's `#[utoipa::path]` states its method, path, parameters, body, answers and
//! route-specific errors; it is the route's one declaration, which [`routes::Routes`] serves and
//! records with the security its extractors demand (a scope from `Authorized<S>`, `security: []`
//! for public routes). Its request and response types derive `ToSchema`. [`Conventions`]
//! then adds what every route shares, so no route can forget it: the error envelope for 401,
//! 402, 403, 429, 500 and 503, 408/413/415 on routes with a body, 409/422 and `Idempotency-Key`
//! on writes, and the `X-Request-Id` and `X-RateLimit-*` headers.
//!
//! `tests/tests/api/openapi.rs` holds the document against the app: every route registered
//! through [`crate::routes::Routes`] is in it, every operation in it is served, and every
//! declared scope is the one the handler enforces.

use std::borrow::Cow;
use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::{json, Value};
use utoipa::openapi::example::ExampleBuilder;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayItems, KnownFormat, ObjectBuilder, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, HeaderBuilder, OpenApi as Document, Ref, RefOr, Required, Response,
    ResponseBuilder, Schema,
};
use utoipa::{IntoParams, Modify, OpenApi, PartialSchema, ToSchema};

use crate::error::Code;
use crate::routes;

mod events;
mod jobs;
mod precise;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Layers Partner API",
        version = "v1",
        description = include_str!("../assets/api-intro.md"),
    ),
    servers((url = "http://127.0.0.1:8080", description = "A gateway on this machine: \
        `cargo xtask dev`'s default address.")),
    components(schemas(ErrorEnvelope)),
    tags(
        (name = "Account", description = "The key you call with."),
        (name = "Projects", description = "A project is one app or brand of your customer: \
            content, social accounts and metrics hang off it."),
        (name = "Influencers", description = "The personas a project's content speaks as."),
        (name = "Jobs", description = "Long-running work: poll a job until it is `succeeded`, \
            `failed` or `canceled`. A test key's jobs run against deterministic fakes."),
        (name = "Credits", description = "The organization's wallet, shared by live and test \
            keys: test keys never charge it and record what they would have cost."),
        (name = "Ingest", description = "Facts about your customer's app, from the App Store, \
            GitHub or its website, as a job."),
        (name = "Content", description = "Generated and uploaded social content. A test key's \
            content is complete at once, backed by fixture media that the gateway serves at \
            `/sandbox/…`; the JSON is the same shape as live."),
        (name = "Social", description = "The Instagram, TikTok and YouTube accounts a project \
            publishes through (and `tiktok_business`, the TikTok for Business grant that links a TikTok ad \
            account). A test key connects sandbox accounts with a plain GET, no browser."),
        (name = "Publishing", description = "Content posted to connected accounts, now or at a \
            time. A test key's posts are published at once with `sb_post_…` ids and never reach \
            a platform."),
        (name = "Metrics", description = "Daily post metrics. A test key's posts get a \
            deterministic synthesized series; live posts read what the platforms reported."),
        (name = "Ads", description = "Ad accounts, campaigns and their daily metrics on \
            Meta, TikTok and Apple Search Ads, billed by the platforms to the partner's own ad \
            account (no credits). A test key's campaigns are `active` at once with `sb_…` ids, \
            reach no platform, and get deterministic synthesized metrics."),
        (name = "Webhooks", description = "Signed deliveries of your environment's events to \
            your endpoints, at least once, with retries and a deliveries log; and the events \
            themselves, for reconciliation. Verify deliveries with any Standard Webhooks library."),
        (name = "Test helpers", description = "Test keys only: drive the sandbox into the \
            states a partner must handle (any webhook event, an expired account, exhausted \
            credits) and wipe its data. A live key is answered 404 `NOT_FOUND`, exactly as for \
            a route that does not exist."),
        (name = "Operations", description = "Liveness and readiness, without a key."),
        (name = "Reference", description = "This document and its rendering, without a key."),
    ),
)]
struct ApiDoc;

/// The document, built once: the shared parts declared on [`ApiDoc`], every operation the app
/// registers (declared once, by its handler: see [`routes::Routes`]) with the schemas it refers
/// to, then the [`Conventions`], and last the event catalogue ([`events`]: the data schemas,
/// `Event` per type, and `webhooks`, which utoipa 5's `OpenApi` has no field for, so it is a
/// top-level key of `extensions`).
pub fn document() -> &'static Document {
    static DOCUMENT: OnceLock<Document> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut doc = ApiDoc::openapi();
        let components = doc.components.get_or_insert_with(Default::default);
        for op in routes::operations() {
            for (name, schema) in op.schemas {
                components.schemas.entry(name).or_insert(schema);
            }
            doc.paths
                .add_path_operation(op.path, vec![op.method], op.operation);
        }
        Conventions.modify(&mut doc);
        let components = doc.components.get_or_insert_with(Default::default);
        refer_list_items(&mut components.schemas);
        for schema in components.schemas.values_mut() {
            free_form(schema);
        }
        for item in doc.paths.paths.values_mut() {
            for (_, op) in operations(item) {
                for param in op.parameters.iter_mut().flatten() {
                    if let Some(schema) = param.schema.as_mut() {
                        free_form(schema);
                    }
                }
                let bodies = op
                    .request_body
                    .iter_mut()
                    .flat_map(|b| b.content.values_mut());
                let answers = op.responses.responses.values_mut().flat_map(|r| match r {
                    RefOr::T(r) => Some(r.content.values_mut()),
                    RefOr::Ref(_) => None,
                });
                for content in bodies.chain(answers.flatten()) {
                    if let Some(schema) = content.schema.as_mut() {
                        free_form(schema);
                    }
                }
            }
        }
        precise::add(&mut doc);
        jobs::add(&mut doc, &layers_env::Task::KINDS);
        events::add(&mut doc);
        doc
    })
}

/// Makes each list (`List_Project`, utoipa's name for [`crate::wire::List`]`<Project>`) refer
/// to its item's schema (`Project`) instead of carrying a copy of it, so that generated clients
/// have one `Project` type. A copy that differs from the named schema is left as it is (and
/// `tests/tests/api/openapi.rs` fails).
fn refer_list_items(schemas: &mut BTreeMap<String, RefOr<Schema>>) {
    let lists: Vec<(String, String)> = schemas
        .keys()
        .filter_map(|name| Some((name.clone(), name.strip_prefix("List_")?.to_owned())))
        .collect();
    for (list, item) in lists {
        let Some(named) = schemas.get(&item).cloned() else {
            continue;
        };
        let Some(RefOr::T(Schema::Object(object))) = schemas.get_mut(&list) else {
            continue;
        };
        let Some(RefOr::T(Schema::Array(data))) = object.properties.get_mut("data") else {
            continue;
        };
        if let ArrayItems::RefOrSchema(items) = &mut data.items {
            if **items == named {
                **items = RefOr::Ref(Ref::from_schema_name(item));
            }
        }
    }
}

/// Gives every object schema without declared properties `additionalProperties: true`: a
/// free-form object (`Event.data`, `Job.result`, `Error.details`), not one that generators read
/// as "no properties at all" (TypeScript's `Record<string, never>`).
fn free_form(schema: &mut RefOr<Schema>) {
    let RefOr::T(schema) = schema else {
        return;
    };
    match schema {
        Schema::Object(object) => {
            let is_object = match &object.schema_type {
                SchemaType::Type(t) => *t == Type::Object,
                SchemaType::Array(types) => types.contains(&Type::Object),
                SchemaType::AnyValue => false,
            };
            if is_object && object.properties.is_empty() && object.additional_properties.is_none() {
                object.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(true)));
            }
            object.properties.values_mut().for_each(free_form);
            if let Some(AdditionalProperties::RefOr(extra)) =
                object.additional_properties.as_deref_mut()
            {
                free_form(extra);
            }
        }
        Schema::Array(array) => {
            if let ArrayItems::RefOrSchema(items) = &mut array.items {
                free_form(items);
            }
        }
        Schema::OneOf(one) => one.items.iter_mut().for_each(free_form),
        Schema::AllOf(all) => all.items.iter_mut().for_each(free_form),
        Schema::AnyOf(any) => any.items.iter_mut().for_each(free_form),
        _ => {}
    }
}

/// The document as JSON, built once.
pub fn json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        serde_json::to_string(document()).expect("an OpenAPI document always serializes")
    })
}

/// The body of every 4xx and 5xx answer.
#[derive(Debug, ToSchema)]
#[schema(as = Error)]
#[allow(dead_code)] // documentation only: `ApiError` writes the envelope
pub struct ErrorEnvelope {
    error: ErrorBody,
}

/// What went wrong. Branch on `code` (and `reason`); `message` is for people.
#[derive(Debug, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)] // documentation only
struct ErrorBody {
    code: ErrorCode,
    /// What was wrong and what to do about it, in English; may change between releases.
    #[schema(example = "no such project")]
    message: String,
    /// The request's id, also in the `X-Request-Id` header: quote it to support.
    #[schema(example = "req_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f")]
    request_id: String,
    /// A machine-readable refinement of `code`, such as `project_archived`,
    /// `customer_external_id_taken` or `idempotency_in_progress` for `CONFLICT`.
    #[schema(required = false, example = "project_archived")]
    reason: String,
    /// Structured context: `field` (the offending body field or parameter) with
    /// `VALIDATION_ERROR`, `requiredScope` with `FORBIDDEN_SCOPE`, `retryAfterSeconds` with
    /// `RATE_LIMITED` and `QUOTA_EXCEEDED`.
    #[schema(required = false, value_type = Object, example = json!({"field": "name"}))]
    details: Value,
}

/// The error codes, each with one HTTP status: an open set (a string, not a closed enum), so
/// that a client built today reads a code added later.
#[derive(Debug)]
struct ErrorCode;

/// Every [`Code`]; the match in [`listed`] has no wildcard, so a new code does not compile
/// until it is listed here too.
const CODES: [Code; 24] = [
    Code::ValidationError,
    Code::Unauthenticated,
    Code::PaymentRequired,
    Code::BillingExhausted,
    Code::ForbiddenScope,
    Code::Forbidden,
    Code::NotFound,
    Code::MethodNotAllowed,
    Code::RequestTimeout,
    Code::Conflict,
    Code::PayloadTooLarge,
    Code::UnsupportedMediaType,
    Code::RangeNotSatisfiable,
    Code::IdempotencyKeyReused,
    Code::EnvironmentMismatch,
    Code::MediaRejected,
    Code::PlatformRejected,
    Code::RateLimited,
    Code::QuotaExceeded,
    Code::Internal,
    Code::PlatformError,
    Code::PlatformNotConfigured,
    Code::KillSwitch,
    Code::ServiceUnavailable,
];

#[allow(dead_code)] // a compile-time check
fn listed(code: Code) {
    match code {
        Code::ValidationError
        | Code::Unauthenticated
        | Code::PaymentRequired
        | Code::BillingExhausted
        | Code::ForbiddenScope
        | Code::Forbidden
        | Code::NotFound
        | Code::MethodNotAllowed
        | Code::RequestTimeout
        | Code::Conflict
        | Code::PayloadTooLarge
        | Code::UnsupportedMediaType
        | Code::RangeNotSatisfiable
        | Code::IdempotencyKeyReused
        | Code::EnvironmentMismatch
        | Code::MediaRejected
        | Code::PlatformRejected
        | Code::RateLimited
        | Code::QuotaExceeded
        | Code::Internal
        | Code::PlatformError
        | Code::PlatformNotConfigured
        | Code::KillSwitch
        | Code::ServiceUnavailable => {}
    }
}

impl PartialSchema for ErrorCode {
    fn schema() -> RefOr<Schema> {
        let table: String = CODES
            .iter()
            .map(|c| format!("\n- `{}` ({})", c.as_str(), c.status().as_u16()))
            .collect();
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some("^[A-Z][A-Z0-9_]*$"))
            .examples(CODES.iter().map(|c| c.as_str()))
            .description(Some(format!(
                "The error code. An open set: more codes may come, so handle an unknown one by \
                 its HTTP status. Today's codes and their HTTP status:{table}"
            )))
            .into()
    }
}

impl ToSchema for ErrorCode {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ErrorCode")
    }
}

/// A named schema for a closed set of strings, listed from the values the code parses.
macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident, $values:expr) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some($values))
                    .into()
            }
        }

        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }
        }
    };
}

string_enum!(
    /// What `POST …/content` generates (`layers_content::Format`).
    ContentFormat,
    layers_content::Format::ALL.map(layers_content::Format::as_str)
);

string_enum!(
    /// A social platform an account connects to (`layers_social::Platform`).
    SocialPlatform,
    layers_social::Platform::ALL.map(layers_social::Platform::as_str)
);

string_enum!(
    /// An event type of the catalogue (`layers_webhooks::EventType`).
    EventType,
    layers_webhooks::EventType::ALL.map(layers_webhooks::EventType::as_str)
);

string_enum!(
    /// An event type an endpoint subscribes to, or `*` for every type.
    EventSubscription,
    std::iter::once("*")
        .chain(layers_webhooks::EventType::ALL.map(layers_webhooks::EventType::as_str))
        .collect::<Vec<_>>()
);

string_enum!(
    /// What the user does on the sandbox consent page.
    ConnectOutcome,
    ["connected", "access_denied"]
);

string_enum!(
    /// The content types an upload may declare (`layers_content::ACCEPTED`).
    UploadContentType,
    layers_content::ACCEPTED
);

string_enum!(
    /// An ads platform an ad account is on (`layers_ads::AdPlatform`).
    AdPlatform,
    layers_ads::AdPlatform::ALL.map(layers_ads::AdPlatform::as_str)
);

string_enum!(
    /// What an ad campaign optimizes for (`layers_ads::Objective`).
    CampaignObjective,
    [
        layers_ads::Objective::AppInstalls,
        layers_ads::Objective::Traffic,
        layers_ads::Objective::Awareness,
    ]
    .map(layers_ads::Objective::as_str)
);

/// `?limit=&cursor=` of every list.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // documentation only: `crate::extract::ListParams` parses them
pub struct ListQuery {
    /// How many items per page, 1 to 100.
    #[param(minimum = 1, maximum = 100, default = 20)]
    limit: Option<i64>,
    /// The `nextCursor` of the previous page; absent for the first page.
    cursor: Option<String>,
}

/// `queued`, `running`, `succeeded`, `failed` or `canceled`.
pub fn job_status() -> Schema {
    layers_jobs::status_schema()
}

/// What a credit decision did.
pub fn credit_action() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some([
            "credit.charged",
            "credit.refunded",
            "credit.granted",
            "credit.skipped",
        ]))
        .into()
}

/// `active` or `archived` (see `archivedAt`).
pub fn project_status() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["active", "archived"]))
        .into()
}

/// `standard` or `pilot` (10 times `standard`); test keys always use `pilot`.
pub fn rate_limit_tier() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["standard", "pilot"]))
        .into()
}

/// The conventions every route shares (CONTRACT §1, §4, §5, §6), added to each operation.
#[derive(Debug)]
struct Conventions;

impl Modify for Conventions {
    fn modify(&self, doc: &mut Document) {
        // utoipa fills the license from Cargo.toml's, which says nothing to a partner.
        doc.info.license = None;
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("lp_<live|test>_<keyId>_<secret>")
                    .description(Some(
                        "`Authorization: Bearer lp_test_…`. The key's prefix chooses the \
                         environment: `lp_live_` keys act on live data, `lp_test_` keys on the \
                         sandbox. The scopes listed on an operation are those the key must hold.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "apiKey",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Api-Key",
                "The same key in `X-Api-Key` instead of `Authorization`.",
            ))),
        );
        for item in doc.paths.paths.values_mut() {
            for (method, operation) in operations(item) {
                conventions(method, operation);
            }
        }
    }
}

/// The operations of a path item, with their methods.
fn operations(item: &mut PathItem) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("GET", item.get.as_mut()),
        ("PUT", item.put.as_mut()),
        ("POST", item.post.as_mut()),
        ("DELETE", item.delete.as_mut()),
        ("OPTIONS", item.options.as_mut()),
        ("HEAD", item.head.as_mut()),
        ("PATCH", item.patch.as_mut()),
        ("TRACE", item.trace.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, op)| op.map(|op| (method, op)))
}

/// The scopes an operation declares, `None` when it needs no key (`security: []`).
fn declared_scopes(operation: &Operation) -> Option<Vec<String>> {
    let security = serde_json::to_value(operation.security.as_ref()?).ok()?;
    if security.as_array().is_some_and(Vec::is_empty) {
        return None;
    }
    let mut scopes: Vec<String> = security
        .as_array()?
        .iter()
        .filter_map(Value::as_object)
        .flat_map(|requirement| requirement.values())
        .filter_map(Value::as_array)
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect();
    scopes.sort();
    scopes.dedup();
    Some(scopes)
}

/// What an operation is, for the conventions that depend on it.
#[derive(Debug, Clone, Copy)]
struct Shape {
    /// It needs a key.
    authenticated: bool,
    /// It needs a key holding a scope.
    scoped: bool,
    write: bool,
    has_body: bool,
    has_path_id: bool,
    has_query: bool,
}

fn conventions(method: &str, op: &mut Operation) {
    let scopes = declared_scopes(op);
    let params = op.parameters.as_deref().unwrap_or_default();
    let shape = Shape {
        authenticated: scopes.is_some(),
        scoped: scopes.as_ref().is_some_and(|s| !s.is_empty()),
        write: matches!(method, "POST" | "PATCH" | "PUT" | "DELETE"),
        has_body: op.request_body.is_some(),
        has_path_id: params.iter().any(|p| p.parameter_in == ParameterIn::Path),
        has_query: params.iter().any(|p| p.parameter_in == ParameterIn::Query),
    };
    if let Some(scopes) = &scopes {
        append(&mut op.description, &scope_sentence(scopes));
    }
    if shape.authenticated && shape.write {
        idempotency_key(op);
    }
    let responses = &mut op.responses.responses;
    let mut add = |status: u16, codes: &[Code], description: &str| {
        add_error(responses, status, codes, description)
    };
    request_errors(shape, &mut add);
    key_errors(shape, &mut add);
    server_errors(shape, &mut add);
    for (status, response) in responses.iter_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        let status: u16 = status.parse().unwrap_or(0);
        if status >= 400 {
            let field = match (shape.has_body, shape.has_query) {
                (true, _) => "name",
                (false, true) => "limit",
                (false, false) => "Idempotency-Key",
            };
            add_examples(response, field);
        }
        // The key is refused (401, 402, 503) before its rate limit is counted.
        let counted = shape.authenticated && !matches!(status, 401 | 402 | 503);
        headers(response, status, counted, shape.write && status < 300);
    }
}

/// The sentence saying which scope an operation needs.
fn scope_sentence(scopes: &[String]) -> String {
    if scopes.is_empty() {
        return "Any valid key may call this; it needs no scope.".to_owned();
    }
    let list: Vec<String> = scopes.iter().map(|s| format!("`{s}`")).collect();
    format!(
        "Requires the {} scope (a `:write` scope also grants `:read`; `*` grants all).",
        list.join(" or ")
    )
}

/// 1 to 255 printable ASCII characters (`layers_idempotency::IdempotencyKey::parse`).
pub const IDEMPOTENCY_KEY_PATTERN: &str = "^[ -~]{1,255}$";

/// The `Idempotency-Key` header of an authenticated write, and what it promises.
fn idempotency_key(op: &mut Operation) {
    append(
        &mut op.description,
        "Send an `Idempotency-Key` to retry safely: a retry with the same key and body \
         replays the first answer byte for byte (with `Idempotent-Replayed: true`) for 24 \
         hours.",
    );
    op.parameters.get_or_insert_with(Vec::new).push(
        ParameterBuilder::new()
            .name("Idempotency-Key")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(
                "1 to 255 printable characters, unique per intended operation (a UUID \
                 will do). Scoped to the key, method and route; kept 24 hours.",
            ))
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1))
                    .max_length(Some(255))
                    .pattern(Some(IDEMPOTENCY_KEY_PATTERN)),
            ))
            .build(),
    );
}

/// The errors of a request's own shape: its body, query and path.
fn request_errors(shape: Shape, add: &mut impl FnMut(u16, &[Code], &str)) {
    let mut invalid = Vec::new();
    if shape.has_body {
        invalid.push("the body is not JSON, or a field is missing, unknown or invalid");
    }
    if shape.has_query {
        invalid.push("a query parameter is invalid");
    }
    if shape.authenticated && shape.write {
        invalid.push("the `Idempotency-Key` is not 1 to 255 printable ASCII characters");
    }
    if !invalid.is_empty() {
        let text = format!("{} (`details.field` names it)", invalid.join(", or "));
        add(400, &[Code::ValidationError], &text);
    }
    if shape.has_path_id {
        add(
            404,
            &[Code::NotFound],
            "an id in the path is unknown, malformed, or another organization's",
        );
    }
    if shape.has_body {
        add(408, &[Code::RequestTimeout], "the body arrived too slowly");
        add(
            413,
            &[Code::PayloadTooLarge],
            "the body is larger than 1 MiB",
        );
        add(
            415,
            &[Code::UnsupportedMediaType],
            "the body is not JSON: send `Content-Type: application/json`",
        );
    }
}

/// The errors of the key: refused, out of scope, rate-limited, switched off, and (writes) its
/// `Idempotency-Key` in use.
fn key_errors(shape: Shape, add: &mut impl FnMut(u16, &[Code], &str)) {
    if !shape.authenticated {
        return;
    }
    add(
        401,
        &[Code::Unauthenticated],
        "the key is missing, malformed, unknown or revoked",
    );
    add(
        402,
        &[Code::PaymentRequired],
        "the organization's plan does not include API access",
    );
    if shape.scoped {
        add(
            403,
            &[Code::ForbiddenScope],
            "the key lacks the scope this operation requires (`details.requiredScope`)",
        );
    }
    add(
        429,
        &[Code::RateLimited, Code::QuotaExceeded],
        "the key's rate limit for this endpoint, or the organization's monthly quota, is \
         used up: retry after `Retry-After` seconds",
    );
    add(
        503,
        &[Code::KillSwitch],
        "the key has been switched off by Layers",
    );
    if shape.write {
        add(
            409,
            &[Code::Conflict],
            "a request with the same `Idempotency-Key` is still running (reason \
             `idempotency_in_progress`)",
        );
        add(
            422,
            &[Code::IdempotencyKeyReused],
            "the `Idempotency-Key` was already used with another body or route",
        );
    }
}

/// The errors on our side.
fn server_errors(shape: Shape, add: &mut impl FnMut(u16, &[Code], &str)) {
    add(
        500,
        &[Code::Internal],
        "something failed on our side; the answer says nothing more: quote its request id",
    );
    if shape.authenticated || shape.write || shape.has_path_id {
        add(
            503,
            &[Code::ServiceUnavailable],
            "the database could not be reached for a moment; nothing was written: retry after \
             `Retry-After` seconds (a write with the same `Idempotency-Key`)",
        );
    }
}

fn append(description: &mut Option<String>, text: &str) {
    match description {
        Some(d) if !d.is_empty() => {
            d.push_str("\n\n");
            d.push_str(text);
        }
        _ => *description = Some(text.to_owned()),
    }
}

/// Adds an error answer (`` `CODE` or `CODE`: description ``) with the envelope, or widens the
/// route's own answer for that status.
fn add_error(
    responses: &mut BTreeMap<String, RefOr<Response>>,
    status: u16,
    codes: &[Code],
    description: &str,
) {
    match responses.entry(status.to_string()) {
        Entry::Vacant(slot) => {
            let codes: Vec<String> = codes.iter().map(|c| format!("`{}`", c.as_str())).collect();
            slot.insert(RefOr::T(
                ResponseBuilder::new()
                    .description(format!("{}: {description}", codes.join(" or ")))
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name("Error")))
                            .build(),
                    )
                    .build(),
            ));
        }
        Entry::Occupied(mut slot) => {
            if let RefOr::T(response) = slot.get_mut() {
                let new: Vec<String> = codes
                    .iter()
                    .map(|c| format!("`{}`", c.as_str()))
                    .filter(|c| !response.description.contains(c.as_str()))
                    .collect();
                let also = if new.is_empty() {
                    description.to_owned()
                } else {
                    format!("{}: {description}", new.join(" or "))
                };
                response.description.push_str("; or ");
                response.description.push_str(&also);
            }
        }
    }
}

/// Gives an error answer without examples one per code its description names (`` `CODE` ``),
/// with the first reason it names (`` reason `x` ``).
fn add_examples(response: &mut Response, field: &str) {
    let codes: Vec<Code> = CODES
        .into_iter()
        .filter(|c| response.description.contains(&format!("`{}`", c.as_str())))
        .collect();
    let reason = response
        .description
        .split("reason `")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .map(str::to_owned);
    let Some(content) = response.content.get_mut("application/json") else {
        return;
    };
    if content.example.is_some() || !content.examples.is_empty() {
        return;
    }
    match codes.as_slice() {
        [] => {}
        [code] => content.example = Some(example(*code, reason.as_deref(), field)),
        codes => {
            for code in codes {
                content.examples.insert(
                    code.as_str().to_owned(),
                    RefOr::T(
                        ExampleBuilder::new()
                            .value(Some(example(*code, reason.as_deref(), field)))
                            .build(),
                    ),
                );
            }
        }
    }
}

/// A plausible envelope for `code`.
fn example(code: Code, reason: Option<&str>, field: &str) -> Value {
    let (message, details) = match code {
        Code::ValidationError => (
            format!("{field}: the value is invalid"),
            Some(json!({ "field": field })),
        ),
        Code::Unauthenticated => (
            "the API key is missing, malformed, unknown or revoked".into(),
            None,
        ),
        Code::PaymentRequired => (
            "the organization's plan does not include API access".into(),
            None,
        ),
        Code::ForbiddenScope => (
            "this API key lacks the projects:write scope".into(),
            Some(json!({"requiredScope": "projects:write"})),
        ),
        Code::NotFound => ("no such project".into(), None),
        Code::RequestTimeout => ("the request body arrived too slowly".into(), None),
        Code::Conflict if reason == Some("project_archived") => (
            "the project is archived and can no longer be changed".into(),
            None,
        ),
        Code::Conflict => (
            "a request with this Idempotency-Key is still running".into(),
            None,
        ),
        Code::PayloadTooLarge => ("request body must be at most 1 MiB".into(), None),
        Code::UnsupportedMediaType => (
            "request body must be JSON: send Content-Type: application/json".into(),
            None,
        ),
        Code::IdempotencyKeyReused => (
            "this Idempotency-Key was used with another request".into(),
            None,
        ),
        Code::EnvironmentMismatch => ("this project belongs to the other environment".into(), None),
        Code::RateLimited => (
            "rate limit exceeded: retry in 1 seconds".into(),
            Some(json!({"retryAfterSeconds": 1})),
        ),
        Code::QuotaExceeded => (
            "the organization's monthly API-call quota is used up".into(),
            Some(json!({"retryAfterSeconds": 86400})),
        ),
        Code::KillSwitch => ("this API key has been switched off".into(), None),
        Code::Internal => (
            "something went wrong on our side; retry later or contact support with the \
             request id"
                .into(),
            None,
        ),
        other => (other.as_str().to_lowercase().replace('_', " "), None),
    };
    let mut error = json!({
        "code": code.as_str(),
        "message": message,
        "requestId": "req_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f",
    });
    if let (Code::Conflict, Some(reason)) = (code, reason) {
        error["reason"] = json!(reason);
    }
    if let Some(details) = details {
        error["details"] = details;
    }
    json!({ "error": error })
}

/// The headers CONTRACT §4, §5 and §6 put on answers.
fn headers(response: &mut Response, status: u16, rate_limited: bool, replayable: bool) {
    let integer = || {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
    };
    let mut set = |name: &str, description: &str, schema: ObjectBuilder| {
        response.headers.entry(name.to_owned()).or_insert_with(|| {
            HeaderBuilder::new()
                .schema(schema)
                .description(Some(description))
                .build()
        });
    };
    set(
        "X-Request-Id",
        "This request's id (`req_…`), also in an error's `requestId`: quote it to support.",
        ObjectBuilder::new().schema_type(Type::String),
    );
    if rate_limited {
        set(
            "X-RateLimit-Limit",
            "Requests per minute this key may make to this endpoint.",
            integer(),
        );
        set(
            "X-RateLimit-Remaining",
            "Requests left before the limit applies.",
            integer(),
        );
        set(
            "X-RateLimit-Reset",
            "Seconds until the bucket is full again.",
            integer(),
        );
    }
    if status == 429 {
        set(
            "Retry-After",
            "Seconds to wait before retrying (also `details.retryAfterSeconds`).",
            integer(),
        );
    }
    if status == 503 {
        set(
            "Retry-After",
            "With `SERVICE_UNAVAILABLE`: seconds to wait before retrying.",
            integer(),
        );
    }
    if replayable {
        set(
            "Idempotent-Replayed",
            "`true` when this answer replays an earlier request with the same \
             `Idempotency-Key`.",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(["true"])),
        );
    }
}
