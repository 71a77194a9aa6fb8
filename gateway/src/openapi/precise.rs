//! The rules the handlers enforce on ids, text and URLs, written into the document as
//! `pattern`, `minLength`, `maxLength` and `format`, so that a request the document allows is
//! one the API accepts: each list's `cursor` (an id of the list's own type), path ids, body ids,
//! free text (no NUL anywhere; names without control or bidirectional formatting characters)
//! and http(s) URLs.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};
use utoipa::openapi::path::ParameterIn;
use utoipa::openapi::schema::{ArrayItems, Object, SchemaFormat};
use utoipa::openapi::{OpenApi as Document, RefOr, Schema};
use utoipa::Number;

use super::operations;

/// `layers_core::prefixed_id!`'s form, `<prefix>_<32 lowercase hex>`.
macro_rules! id {
    ($prefix:literal) => {
        concat!("^", $prefix, "_[0-9a-f]{32}$")
    };
}

/// An event id: `evt_` and a canonical ULID (`layers_webhooks::EventId::parse`).
const EVENT_ID: &str = "^evt_[0-7][0-9A-HJKMNP-TV-Z]{25}$";
/// The credit ledger's and audit's cursors: a UUID.
const UUID: &str = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";
/// Every string of a body: no NUL (`crate::extract`'s `refuse_nul`).
const NO_NUL: &str = "^[^\\u0000]*$";
/// `layers_projects` `Name`, `Description`, `CustomerExternalId`: something left after
/// trimming (Rust's white space), and no control or bidirectional formatting character.
const TEXT: &str = "^[^\\u0000-\\u001F\\u007F-\\u009F\\u061C\\u200E\\u200F\\u202A-\\u202E\\u2066-\\u2069]*\
    [^\\u0000-\\u001F\\u007F-\\u009F\\u061C\\u200E\\u200F\\u202A-\\u202E\\u2066-\\u2069 \\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]\
    [^\\u0000-\\u001F\\u007F-\\u009F\\u061C\\u200E\\u200F\\u202A-\\u202E\\u2066-\\u2069]*$";
/// An ad account's external id (`layers_ads::input::Link::check`): no control character, and
/// something left after trimming.
const EXTERNAL_ID: &str = "^[^\\u0000-\\u001F\\u007F-\\u009F]*\
    [^\\u0000-\\u001F\\u007F-\\u009F \\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]\
    [^\\u0000-\\u001F\\u007F-\\u009F]*$";
/// A credential's part (`layers_ads::input::Link::check`): no NUL, something left after trimming
/// (Rust's white space).
const NOT_BLANK: &str = "^[^\\u0000]*\
    [^\\u0000\\u0009-\\u000D \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000]\
    [^\\u0000]*$";
/// A test clock's name: no control character.
const CLOCK_NAME: &str = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$";
/// A host name as the URL standard reads it: ASCII that is no forbidden domain code point,
/// its last label not a number (which would be read as an IPv4 address).
macro_rules! host {
    () => {
        "([A-Za-z0-9!\"$&'()*+,;=_`{}~-]*\\.)*[A-Za-z!\"$&'()*+,;=_`{}~-][A-Za-z0-9!\"$&'()*+,;=_`{}~-]*\\.?"
    };
}
/// A port: at most 65535, leading zeros allowed.
macro_rules! port {
    () => {
        "(:0*(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})?)?"
    };
}
/// An http(s) URL with a host name; printable ASCII after it.
const URL: &str = concat!("^https?://", host!(), port!(), "([/?#][!-~]*)?$");
/// `redirectUri`: https, or http to this machine; no credentials, no fragment.
const REDIRECT_URI: &str = concat!(
    "^(https://",
    host!(),
    "|http://(localhost|127\\.0\\.0\\.1|\\[::1\\]))",
    port!(),
    "([/?][!-\"$-~]*)?$"
);
/// `owner/name` on GitHub (`layers_ingest::Repository`).
const REPOSITORY: &str = "^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$";
/// A git branch (`layers_ingest::Branch`): no leading `-`, no `..`.
const BRANCH: &str = "^[A-Za-z0-9_/][A-Za-z0-9_/-]*(\\.[A-Za-z0-9_/-]+)*$";
/// An App Store URL (`layers_ingest::AppstoreTarget`): apps.apple.com, its last segment `id…`.
const APP_STORE_URL: &str =
    "^https://(apps|itunes)\\.apple\\.com(/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)*/id[0-9]{1,19}$";
/// A bundle id: letters, digits, `.`, `-`, `_`, with an inner dot.
const BUNDLE_ID: &str = "^[A-Za-z0-9_-][A-Za-z0-9._-]*\\.[A-Za-z0-9._-]*[A-Za-z0-9_-]$";
/// An ads campaign's name or keyword (`layers_ads::input`): something left after trimming.
const ADS_TEXT: &str = "^[^\\u0000]*[^\\u0000\\s\\u0085][^\\u0000]*$";
/// An ISO 4217 code in upper case.
const CURRENCY: &str = "^[A-Z]{3}$";
/// `campaignIds`: campaign ids separated by commas, at most 1000, or nothing.
const CAMPAIGN_IDS: &str = "^(cmp_[0-9a-f]{32}(,cmp_[0-9a-f]{32}){0,999})?$";
/// `postIds`: externalIds separated by commas, none empty after trimming.
const POST_IDS: &str = "^[^,]*[^,\\s\\u0085][^,]*(,[^,]*[^,\\s\\u0085][^,]*)*$";

/// What a string must be.
struct Rule {
    pattern: &'static str,
    min: Option<usize>,
    max: Option<usize>,
    uri: bool,
}

const fn pattern(pattern: &'static str) -> Rule {
    Rule {
        pattern,
        min: None,
        max: None,
        uri: false,
    }
}

const fn text(pattern: &'static str, min: usize, max: usize) -> Rule {
    Rule {
        pattern,
        min: Some(min),
        max: Some(max),
        uri: false,
    }
}

const fn url(pattern: &'static str) -> Rule {
    Rule {
        pattern,
        min: None,
        max: Some(2048),
        uri: true,
    }
}

/// Each list's cursor: the id type its handler parses it with (`ListParams::cursor`).
const CURSORS: [(&str, &str); 14] = [
    ("/v1/projects", id!("proj")),
    ("/v1/projects/{projectId}/influencers", id!("inf")),
    ("/v1/projects/{projectId}/content", id!("cnt")),
    ("/v1/projects/{projectId}/social/accounts", id!("sa")),
    ("/v1/projects/{projectId}/scheduled-posts", id!("sp")),
    ("/v1/projects/{projectId}/ads/accounts", id!("adacct")),
    ("/v1/projects/{projectId}/ads/campaigns", id!("cmp")),
    ("/v1/jobs", id!("job")),
    ("/v1/credits/ledger", UUID),
    ("/v1/credits/audit", UUID),
    ("/v1/webhook-endpoints", id!("wh")),
    ("/v1/webhook-endpoints/{endpointId}/deliveries", id!("whd")),
    ("/v1/events", EVENT_ID),
    ("/v1/test_helpers/test-clocks", id!("clock")),
];

/// Ids in paths (and `projectId` in a query), by parameter name.
const PARAMETER_IDS: [(&str, &str); 13] = [
    ("projectId", id!("proj")),
    ("containerId", id!("cnt")),
    ("contentId", id!("cnt")),
    ("assetId", id!("asset")),
    ("jobId", id!("job")),
    ("clockId", id!("clock")),
    ("accountId", id!("sa")),
    ("adAccountId", id!("adacct")),
    ("campaignId", id!("cmp")),
    ("scheduledPostId", id!("sp")),
    ("endpointId", id!("wh")),
    ("deliveryId", id!("whd")),
    ("eventId", EVENT_ID),
];

/// Body fields: (schema, property, `[]` for an array's items) and their rule.
const FIELDS: [(&str, &str, Rule); 39] = [
    ("TargetRequest", "socialAccountId", pattern(id!("sa"))),
    ("CredentialsRequest", "clientId", text(NOT_BLANK, 1, 8192)),
    ("CredentialsRequest", "teamId", text(NOT_BLANK, 1, 8192)),
    ("CredentialsRequest", "keyId", text(NOT_BLANK, 1, 8192)),
    (
        "CredentialsRequest",
        "privateKeyPem",
        text(NOT_BLANK, 1, 8192),
    ),
    ("LinkRequest", "externalId", text(EXTERNAL_ID, 1, 100)),
    ("LinkRequest", "socialAccountId", pattern(id!("sa"))),
    ("CampaignRequest", "adAccountId", pattern(id!("adacct"))),
    ("AdCreative", "containerId", pattern(id!("cnt"))),
    ("Finalize", "uploadId", pattern(id!("upl"))),
    ("GenerateBody", "influencerId", pattern(id!("inf"))),
    ("GenerateOptions", "influencerId", pattern(id!("inf"))),
    ("CreateProject", "testClockId", pattern(id!("clock"))),
    ("ResetSandbox", "projectId", pattern(id!("proj"))),
    ("CreateProject", "name", text(TEXT, 1, 200)),
    ("UpdateProject", "name", text(TEXT, 1, 200)),
    ("CreateProject", "customerExternalId", text(TEXT, 1, 255)),
    ("UpdateProject", "customerExternalId", text(TEXT, 1, 255)),
    ("CreateInfluencer", "name", text(TEXT, 1, 200)),
    ("CreateInfluencer", "description", text(TEXT, 1, 2000)),
    ("CreateTestClock", "name", text(CLOCK_NAME, 0, 200)),
    ("FileDeclaration", "filename", text(NO_NUL, 1, 255)),
    ("UrlUpload", "urls[]", url(URL)),
    ("WebsiteBody", "url", url(URL)),
    ("CreateEndpoint", "url", url(URL)),
    ("UpdateEndpoint", "url", url(URL)),
    ("OauthUrlRequest", "redirectUri", url(REDIRECT_URI)),
    ("GithubBody", "repository", pattern(REPOSITORY)),
    (
        "GithubBody",
        "branch",
        Rule {
            pattern: BRANCH,
            min: Some(1),
            max: Some(255),
            uri: false,
        },
    ),
    ("AppstoreBody", "appStoreUrl", url(APP_STORE_URL)),
    ("CampaignRequest", "appStoreUrl", url(URL)),
    ("CampaignRequest", "name", text(ADS_TEXT, 1, 200)),
    ("PatchRequest", "name", text(ADS_TEXT, 1, 200)),
    ("CampaignRequest", "keywords[]", text(ADS_TEXT, 1, 80)),
    ("AdCreative", "headline", text(NO_NUL, 0, 255)),
    ("AdCreative", "caption", text(NO_NUL, 0, 2200)),
    ("Money", "currency", pattern(CURRENCY)),
    ("AppstoreBody", "iosBundleId", text(BUNDLE_ID, 3, 155)),
    ("UpdateEndpoint", "description", pattern(NO_NUL)),
];

/// Integers of a body: (schema, property, minimum, maximum).
const BOUNDS: [(&str, &str, i64, Option<i64>); 4] = [
    ("AdTargeting", "ageMin", 13, Some(65)),
    ("AdTargeting", "ageMax", 13, Some(65)),
    ("Money", "amount", 1, Some(1_000_000_000_000)),
    ("FileDeclaration", "sizeBytes", 1, None),
];

/// Arrays of a body that may not be empty: (schema, property).
const NOT_EMPTY: [(&str, &str); 2] = [("CreateEndpoint", "events"), ("UpdateEndpoint", "events")];

/// Applies the rules to `doc`'s operations and its request bodies' schemas.
pub(super) fn add(doc: &mut Document) {
    let bodies = parameters(doc);
    let Some(components) = doc.components.as_mut() else {
        return;
    };
    fields(&mut components.schemas);
    combinations(&mut components.schemas);
    formats(&mut components.schemas);
    free_text(&mut components.schemas, bodies);
}

/// The rules of each operation's parameters; the schemas its request bodies refer to.
fn parameters(doc: &mut Document) -> BTreeSet<String> {
    let cursors: BTreeMap<&str, &str> = CURSORS.into_iter().collect();
    let ids: BTreeMap<&str, &str> = PARAMETER_IDS.into_iter().collect();
    let mut bodies = BTreeSet::new();
    for (path, item) in doc.paths.paths.iter_mut() {
        for (method, op) in operations(item) {
            for param in op.parameters.iter_mut().flatten() {
                let rule = match (&param.parameter_in, param.name.as_str()) {
                    (ParameterIn::Query, "cursor") if method == "GET" => {
                        // an empty cursor is the first page
                        let id = cursors.get(path.as_str()).copied();
                        let id = id.map(|p| p.trim_start_matches('^').trim_end_matches('$'));
                        if let (Some(id), Some(schema)) = (id, param.schema.as_mut()) {
                            apply(schema, &pattern(""));
                            string_or_number(schema).pattern = Some(format!("^({id})?$"));
                        }
                        None
                    }
                    (ParameterIn::Query, "kind") => Some(NO_NUL),
                    (ParameterIn::Query, "postIds") => Some(POST_IDS),
                    (ParameterIn::Query, "campaignIds") => Some(CAMPAIGN_IDS),
                    (ParameterIn::Path | ParameterIn::Query, name) if path.starts_with("/v1/") => {
                        ids.get(name).copied()
                    }
                    _ => None,
                };
                if let (Some(rule), Some(schema)) = (rule, param.schema.as_mut()) {
                    apply(schema, &pattern(rule));
                }
                if path == "/v1/events" && param.name == "type" {
                    // `EventType::parse`: one of the catalogue's types, or empty (any type)
                    let types: Vec<String> = layers_webhooks::EventType::ALL
                        .iter()
                        .map(|t| t.as_str().replace('.', "\\."))
                        .collect();
                    if let Some(schema) = param.schema.as_mut() {
                        apply(schema, &pattern(""));
                        string_or_number(schema).pattern =
                            Some(format!("^({})?$", types.join("|")));
                    }
                }
            }
            for content in op.request_body.iter().flat_map(|b| b.content.values()) {
                if let Some(schema) = &content.schema {
                    references(
                        &serde_json::to_value(schema).unwrap_or_default(),
                        &mut bodies,
                    );
                }
            }
        }
    }
    bodies
}

/// The rules of [`FIELDS`], [`BOUNDS`] and [`NOT_EMPTY`].
fn fields(schemas: &mut BTreeMap<String, RefOr<Schema>>) {
    for (name, property, rule) in &FIELDS {
        let (property, items) = match property.strip_suffix("[]") {
            Some(p) => (p, true),
            None => (*property, false),
        };
        let Some(RefOr::T(Schema::Object(object))) = schemas.get_mut(*name) else {
            panic!("no schema {name} in the document");
        };
        let Some(field) = object.properties.get_mut(property) else {
            panic!("{name} has no property {property}");
        };
        match (field, items) {
            (RefOr::T(Schema::Array(array)), true) => match &mut array.items {
                ArrayItems::RefOrSchema(item) => apply(item, rule),
                ArrayItems::False => {}
            },
            (field, _) => apply(field, rule),
        }
    }
    for (name, property, min, max) in BOUNDS {
        let object = string_or_number(property_of(schemas, name, property));
        object.minimum = Some(Number::Int(min as isize));
        object.maximum = max.map(|m| Number::Int(m as isize));
    }
    for (name, property) in NOT_EMPTY {
        match property_of(schemas, name, property) {
            RefOr::T(Schema::Array(array)) => array.min_items = Some(1),
            _ => panic!("{name}.{property} is not an array"),
        }
    }
}

/// A property given, as a string (a field given as `null` counts as absent, as serde reads it).
fn given(property: &str, of: Value) -> Value {
    json!({ "properties": { property: of }, "required": [property] })
}

/// The rules that tie one body field to another, as JSON Schema says them: `oneOf` for
/// exclusive fields, `if`/`then`/`else` for a field one value of another requires or forbids.
/// (Generators of typed clients read neither, so the types stay plain; validators and
/// schemathesis do.) Rules that depend on stored state (the ad account's platform, a clock's
/// time) cannot be said here; `xtask/schemathesis/schemathesis.toml` lists them.
fn combinations(schemas: &mut BTreeMap<String, RefOr<Schema>>) {
    let string = || json!({ "type": "string" });
    let object = || json!({ "type": "object", "additionalProperties": true });
    let rules = [
        // `layers_ingest::AppstoreTarget`: exactly one of the two
        (
            "AppstoreBody",
            json!({ "oneOf": [given("appStoreUrl", string()), given("iosBundleId", string())] }),
        ),
        // `layers_ads::input::Link::check`: Apple Search Ads takes credentials, the others a
        // social account
        (
            "LinkRequest",
            json!({
                "if": given("platform", json!({ "const": "apple_search_ads" })),
                "then": {
                    "allOf": [given("credentials", object())],
                    "not": given("socialAccountId", string()),
                },
                "else": {
                    "allOf": [given("socialAccountId", string())],
                    "not": given("credentials", object()),
                },
            }),
        ),
        // the ads permission is Instagram's (a tiktok_business grant is an advertiser's)
        (
            "OauthUrlRequest",
            json!({
                "if": given("ads", json!({ "const": true })),
                "then": given("platform", json!({ "const": "instagram" })),
            }),
        ),
        // `layers_ads::input::Campaign::check`: an app install campaign names the app
        (
            "CampaignRequest",
            json!({
                "if": given("objective", json!({ "const": "app_installs" })),
                "then": given("appStoreUrl", string()),
            }),
        ),
    ];
    for (name, keywords) in rules {
        let Some(RefOr::T(Schema::Object(target))) = schemas.get_mut(name) else {
            panic!("no object schema {name} in the document");
        };
        let Value::Object(keywords) = keywords else {
            unreachable!("each rule is an object")
        };
        let extensions = target.extensions.get_or_insert_with(Default::default);
        for (keyword, value) in keywords {
            extensions.insert(keyword, value);
        }
    }
}

/// Closed sets and formats: countries, time zones, language tags.
fn formats(schemas: &mut BTreeMap<String, RefOr<Schema>>) {
    // `layers_ads::input::is_country`: every assigned ISO 3166-1 alpha-2 code
    let countries: Vec<String> = (b'A'..=b'Z')
        .flat_map(|a| (b'A'..=b'Z').map(move |b| String::from_utf8(vec![a, b]).unwrap_or_default()))
        .filter(|c| layers_ads::input::is_country(c))
        .collect();
    match property_of(schemas, "AdTargeting", "countries") {
        RefOr::T(Schema::Array(array)) => match &mut array.items {
            ArrayItems::RefOrSchema(item) => {
                let object = string_or_number(item);
                object.enum_values = Some(countries.into_iter().map(Value::from).collect());
            }
            ArrayItems::False => {}
        },
        _ => panic!("AdTargeting.countries is not an array"),
    }
    // `layers_projects::Timezone`: an IANA name chrono-tz knows
    let zones: Vec<String> = chrono_tz::TZ_VARIANTS
        .iter()
        .map(|tz| tz.name().replace('+', "\\+"))
        .collect();
    let zones = format!("^({})$", zones.join("|"));
    for name in ["CreateProject", "UpdateProject"] {
        let timezone = string_or_number(property_of(schemas, name, "timezone"));
        timezone.pattern = Some(zones.clone());
    }
    // `layers_projects::LanguageTag`: a two-letter language, perhaps with a region
    let language = language_pattern();
    for (name, property) in [
        ("CreateProject", "primaryLanguage"),
        ("UpdateProject", "primaryLanguage"),
    ] {
        string_or_number(property_of(schemas, name, property)).pattern = Some(language.clone());
    }
    if let RefOr::T(Schema::Array(array)) = property_of(schemas, "AdTargeting", "languages") {
        if let ArrayItems::RefOrSchema(item) = &mut array.items {
            string_or_number(item).pattern = Some(language);
        }
    }
}

/// No NUL in any free string of the schemas bodies refer to (`bodies`), and those they refer to
/// in turn.
fn free_text(schemas: &mut BTreeMap<String, RefOr<Schema>>, mut bodies: BTreeSet<String>) {
    let mut seen = BTreeSet::new();
    while let Some(name) = bodies.pop_first() {
        if !seen.insert(name.clone()) {
            continue;
        }
        if let Some(schema) = schemas.get(&name) {
            references(
                &serde_json::to_value(schema).unwrap_or_default(),
                &mut bodies,
            );
        }
    }
    for name in seen {
        if let Some(schema) = schemas.get_mut(&name) {
            no_nul(schema);
        }
    }
}

/// The BCP 47 tags of a registered two-letter language and, optionally, an assigned region
/// (`en`, `pt-BR`): a part of what `layers_projects::LanguageTag::parse` accepts, in its
/// canonical case.
fn language_pattern() -> String {
    let pairs = || (b'a'..=b'z').flat_map(|a| (b'a'..=b'z').map(move |b| [a, b]));
    let languages: Vec<String> = pairs()
        .map(|p| String::from_utf8_lossy(&p).into_owned())
        .filter(|l| layers_projects::LanguageTag::parse(l).is_ok_and(|t| t.as_str() == l))
        .collect();
    let regions: Vec<String> = pairs()
        .map(|p| String::from_utf8_lossy(&p).to_ascii_uppercase())
        .filter(|r| layers_ads::input::is_country(r))
        .filter(|r| {
            let tag = format!("en-{r}");
            layers_projects::LanguageTag::parse(&tag).is_ok_and(|t| t.as_str() == tag)
        })
        .collect();
    format!("^({})(-({}))?$", languages.join("|"), regions.join("|"))
}

/// The property `property` of the object schema `name`.
fn property_of<'a>(
    schemas: &'a mut BTreeMap<String, RefOr<Schema>>,
    name: &str,
    property: &str,
) -> &'a mut RefOr<Schema> {
    let Some(RefOr::T(Schema::Object(object))) = schemas.get_mut(name) else {
        panic!("no schema {name} in the document");
    };
    object
        .properties
        .get_mut(property)
        .unwrap_or_else(|| panic!("{name} has no property {property}"))
}

fn string_or_number(schema: &mut RefOr<Schema>) -> &mut Object {
    match schema {
        RefOr::T(Schema::Object(object)) => object,
        _ => panic!("a rule for a schema that is not a plain one"),
    }
}

/// The names of the component schemas `value` refers to.
fn references(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(fields) => {
            if let Some(Value::String(r)) = fields.get("$ref") {
                if let Some(name) = r.strip_prefix("#/components/schemas/") {
                    out.insert(name.to_owned());
                }
            }
            fields.values().for_each(|v| references(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, out)),
        _ => {}
    }
}

fn is_string(object: &Object) -> bool {
    use utoipa::openapi::schema::{SchemaType, Type};
    match &object.schema_type {
        SchemaType::Type(t) => *t == Type::String,
        SchemaType::Array(types) => types.contains(&Type::String),
        SchemaType::AnyValue => false,
    }
}

fn apply(schema: &mut RefOr<Schema>, rule: &Rule) {
    let RefOr::T(Schema::Object(object)) = schema else {
        panic!("a rule for a schema that is not a string");
    };
    assert!(
        is_string(object),
        "a rule for a schema that is not a string"
    );
    object.pattern = Some(rule.pattern.to_owned());
    if rule.min.is_some() {
        object.min_length = rule.min;
    }
    if rule.max.is_some() {
        object.max_length = rule.max;
    }
    if rule.uri {
        object.format = Some(SchemaFormat::Custom("uri".to_owned()));
    }
}

/// Every free string of a body schema (no pattern, enum or format of its own) refuses NUL.
fn no_nul(schema: &mut RefOr<Schema>) {
    let RefOr::T(schema) = schema else {
        return;
    };
    match schema {
        Schema::Object(object) => {
            if is_string(object)
                && object.pattern.is_none()
                && object.enum_values.is_none()
                && object.format.is_none()
            {
                object.pattern = Some(NO_NUL.to_owned());
            }
            object.properties.values_mut().for_each(no_nul);
        }
        Schema::Array(array) => {
            if let ArrayItems::RefOrSchema(items) = &mut array.items {
                no_nul(items);
            }
        }
        Schema::OneOf(one) => one.items.iter_mut().for_each(no_nul),
        Schema::AllOf(all) => all.items.iter_mut().for_each(no_nul),
        Schema::AnyOf(any) => any.items.iter_mut().for_each(no_nul),
        _ => {}
    }
}
