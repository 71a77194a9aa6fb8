//! The OpenAPI document is the app: every route the app registers is in it, every operation in
//! it is served, each declares the scope its handler enforces, and every error it describes is
//! the contract's envelope. The reference page renders from files the gateway serves itself.

use std::collections::BTreeSet;

use layers_keys::Tier;
use layers_orgs::Plan;
use layers_tests::{assert_error, spawn_app, Env, TestApp, TestKey};
use reqwest::{Method, Response};
use serde_json::{json, Value};

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// (METHOD, path template) of every operation in the document.
fn operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if item.get(method).is_some() {
                ops.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    ops
}

fn document() -> Value {
    serde_json::from_str(layers_gateway::openapi::json()).expect("the document is JSON")
}

/// The scopes `op` declares: `None` when it needs no key (`security: []`), else the same list
/// for every scheme (empty when any key will do).
fn declared_scopes(op: &Value) -> Option<Vec<String>> {
    let security = op["security"]
        .as_array()
        .expect("every operation states its security");
    if security.is_empty() {
        return None;
    }
    let mut per_scheme = security.iter().map(|requirement| {
        let (_, scopes) = requirement
            .as_object()
            .expect("a requirement")
            .iter()
            .next()
            .expect("one scheme per requirement");
        let mut scopes: Vec<String> = serde_json::from_value(scopes.clone()).unwrap();
        scopes.sort();
        scopes
    });
    let first = per_scheme.next().expect("at least one scheme");
    assert!(
        per_scheme.all(|s| s == first),
        "bearer and apiKey declare the same scopes: {op}"
    );
    Some(first)
}

/// `path` with every `{param}` replaced by a placeholder that names nothing.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "placeholder"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

async fn call(app: &TestApp, method: &str, path: &str, key: Option<&TestKey>) -> Response {
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = app.request(method.clone(), &concrete(path), key);
    if matches!(method, Method::POST | Method::PATCH | Method::PUT) {
        req = req.json(&json!({}));
    }
    req.send().await.expect("the request is answered")
}

#[tokio::test]
async fn the_document_and_the_reference_page_are_served_without_a_key() {
    let app = spawn_app().await;

    // the root says where to go
    let res = call(&app, "GET", "/", None).await;
    assert_eq!(res.status(), 200);
    let index: Value = res.json().await.unwrap();
    assert_eq!(index["docs"], "/docs");
    assert_eq!(index["openapi"], "/v1/openapi.json");

    let res = call(&app, "GET", "/v1/openapi.json", None).await;
    assert_eq!(res.status(), 200);
    assert!(res.headers().contains_key("x-request-id"));
    assert_eq!(res.headers()["content-type"], "application/json");
    let doc: Value = res.json().await.expect("the document is JSON");
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1.")),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc, document());

    let res = call(&app, "GET", "/docs", None).await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let page = res.text().await.unwrap();
    let bundle = layers_gateway::routes::docs::REDOC_JS;
    assert!(
        page.contains(&format!("<script src=\"{bundle}\">")),
        "{page}"
    );
    assert!(page.contains("Redoc.init(\"/v1/openapi.json\""), "{page}");
    // Everything the page loads comes from the gateway itself.
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "{page}"
    );

    let res = call(&app, "GET", bundle, None).await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    let js = res.bytes().await.unwrap();
    assert!(js
        .starts_with(b"/*! For license information please see redoc.standalone.js.LICENSE.txt */"));
    assert!(js.len() > 1_000_000, "the whole bundle: {} bytes", js.len());
}

#[test]
fn every_registered_route_is_in_the_document_and_nothing_else() {
    let registered: BTreeSet<(String, String)> =
        layers_gateway::routes::registered().into_iter().collect();
    let documented = operations(&document());
    let undocumented: Vec<_> = registered.difference(&documented).collect();
    let unregistered: Vec<_> = documented.difference(&registered).collect();
    assert!(
        undocumented.is_empty() && unregistered.is_empty(),
        "routes missing from the document (add a #[utoipa::path] and list it in openapi.rs): \
         {undocumented:?}; operations the app does not register: {unregistered:?}"
    );
    // A sanity check on the recorder itself.
    assert!(registered.contains(&("PATCH".into(), "/v1/projects/{projectId}".into())));
    assert!(registered.contains(&("GET".into(), "/v1/openapi.json".into())));
}

#[tokio::test]
async fn every_operation_in_the_document_is_served() {
    let app = spawn_app().await;
    let key = app.partner_key(Env::Sandbox).await;
    for (method, path) in operations(&document()) {
        let res = call(&app, &method, &path, Some(&key)).await;
        let status = res.status().as_u16();
        let body = res.text().await.unwrap();
        assert_ne!(status, 405, "{method} {path}: {body}");
        let no_route = serde_json::from_str::<Value>(&body).is_ok_and(|b| {
            b["error"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("no route for"))
        });
        assert!(!no_route, "{method} {path} is not served: {body}");
    }
}

#[tokio::test]
async fn every_operation_enforces_the_scope_it_declares() {
    let app = spawn_app().await;
    let org = app.org(Plan::Partner).await;
    // a scope of another area than the one an operation asks for
    let key = app
        .key_with(org, Env::Sandbox, "ads:read", Tier::Standard)
        .await;
    let credits_key = app
        .key_with(org, Env::Sandbox, "credits:read", Tier::Standard)
        .await;
    let doc = document();
    let mut checked = 0;
    for (method, path) in operations(&doc) {
        let op = &doc["paths"][&path][method.to_lowercase()];
        let what = format!("{method} {path}");
        match declared_scopes(op) {
            None if path.contains('{')
                || op["parameters"].as_array().is_some_and(|ps| {
                    ps.iter()
                        .any(|p| p["in"] == "query" && p["required"] == true)
                }) =>
            {
                // a file by its path (`/sandbox/…`, `/media/…`) or a state in the query: the
                // placeholder names none, and the answer is about it, never about a key
                let res = call(&app, &method, &path, None).await;
                assert_ne!(res.status(), 401, "{what} needs no key");
                assert!(res.status().is_client_error(), "{what}: {}", res.status());
                let body: Value = res.json().await.expect("an error envelope");
                assert!(body["error"]["code"].is_string(), "{what}: {body}");
            }
            None => {
                let res = call(&app, &method, &path, None).await;
                assert_eq!(res.status(), 200, "{what} needs no key");
            }
            Some(scopes) if scopes.is_empty() => {
                let res = call(&app, &method, &path, Some(&key)).await;
                assert_eq!(res.status(), 200, "{what} needs no scope");
                let res = call(&app, &method, &path, None).await;
                assert_error(res, 401, "UNAUTHENTICATED").await;
            }
            Some(scopes) => {
                assert_eq!(scopes.len(), 1, "{what} declares one scope: {scopes:?}");
                let other = match scopes[0].starts_with("ads:") {
                    true => &credits_key,
                    false => &key,
                };
                let res = call(&app, &method, &path, Some(other)).await;
                let error = assert_error(res, 403, "FORBIDDEN_SCOPE").await;
                assert_eq!(
                    error["details"]["requiredScope"], scopes[0],
                    "{what} enforces the scope it declares"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 7, "only {checked} scoped operations");
}

/// `$ref` of the JSON body of a response, if any.
fn schema_ref(response: &Value) -> Option<&str> {
    response["content"]["application/json"]["schema"]["$ref"].as_str()
}

#[test]
fn every_error_is_the_envelope_and_every_convention_is_documented() {
    let doc = document();
    let schemas = &doc["components"]["schemas"];

    // An open set: a string with today's codes as examples, not a closed enum that would make
    // a generated client refuse a code added later.
    assert_eq!(schemas["ErrorCode"]["type"], "string");
    assert!(
        schemas["ErrorCode"].get("enum").is_none(),
        "ErrorCode is open"
    );
    let codes: Vec<&str> = schemas["ErrorCode"]["examples"]
        .as_array()
        .expect("ErrorCode lists today's codes")
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    for code in [
        "VALIDATION_ERROR",
        "UNAUTHENTICATED",
        "FORBIDDEN_SCOPE",
        "NOT_FOUND",
        "METHOD_NOT_ALLOWED",
        "REQUEST_TIMEOUT",
        "IDEMPOTENCY_KEY_REUSED",
        "QUOTA_EXCEEDED",
        "KILL_SWITCH",
    ] {
        assert!(codes.contains(&code), "{code} in {codes:?}");
    }
    let error = &schemas["ErrorBody"];
    assert_eq!(schemas["Error"]["required"], json!(["error"]));
    assert_eq!(error["required"], json!(["code", "message", "requestId"]));
    for field in ["reason", "details"] {
        assert!(error["properties"].get(field).is_some(), "{field}");
    }

    for (method, path) in operations(&doc) {
        let op = &doc["paths"][&path][method.to_lowercase()];
        let what = format!("{method} {path}");
        let responses = op["responses"].as_object().expect("responses");
        let mut envelopes = 0;
        for (status, response) in responses {
            assert!(
                response["headers"].get("X-Request-Id").is_some(),
                "{what} {status} has X-Request-Id"
            );
            if status.as_str() < "400" {
                continue;
            }
            if (path.as_str(), status.as_str()) == ("/readyz", "503") {
                continue; // readiness answers its own body, documented as such
            }
            assert_eq!(
                schema_ref(response),
                Some("#/components/schemas/Error"),
                "{what} {status} is the envelope"
            );
            envelopes += 1;
        }
        assert!(envelopes > 0, "{what} describes its errors");

        let Some(scopes) = declared_scopes(op) else {
            continue;
        };
        let mut expected = vec!["401", "402", "429", "500", "503"];
        if !scopes.is_empty() {
            expected.push("403");
        }
        for status in expected {
            assert!(responses.contains_key(status), "{what} documents {status}");
        }
        for status in ["200", "429"] {
            if let Some(response) = responses.get(status) {
                assert!(
                    response["headers"].get("X-RateLimit-Remaining").is_some(),
                    "{what} {status} has the rate-limit headers"
                );
            }
        }
        assert!(responses["429"]["headers"].get("Retry-After").is_some());
        let idempotency_key = op["parameters"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["name"] == "Idempotency-Key"));
        assert_eq!(
            idempotency_key,
            matches!(method.as_str(), "POST" | "PATCH" | "PUT" | "DELETE"),
            "{what}: Idempotency-Key on writes"
        );

        if let Some(body) = op.get("requestBody") {
            let name = body["content"]["application/json"]["schema"]["$ref"]
                .as_str()
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
                .expect("a named request body");
            assert_eq!(
                schemas[name]["additionalProperties"], false,
                "{what}: unknown fields are refused"
            );
        }
    }

    // Times are RFC 3339 strings, wherever they appear.
    for (name, schema) in schemas.as_object().unwrap() {
        for (field, property) in schema["properties"].as_object().into_iter().flatten() {
            if field.ends_with("At") {
                assert_eq!(property["format"], "date-time", "{name}.{field}");
            }
        }
    }
}

/// Every object schema in `value` (walked whole) that declares no properties: each must say
/// what its extra properties may be (`additionalProperties`), else generators read it as an
/// object with nothing in it.
fn closed_empty_objects(value: &Value, at: &str, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            let object = match map.get("type") {
                Some(Value::String(t)) => t == "object",
                Some(Value::Array(types)) => types.contains(&json!("object")),
                _ => false,
            };
            if object
                && map.get("properties").is_none()
                && map.get("additionalProperties").is_none()
            {
                found.push(at.to_owned());
            }
            for (key, inner) in map {
                closed_empty_objects(inner, &format!("{at}/{key}"), found);
            }
        }
        Value::Array(items) => {
            for (i, inner) in items.iter().enumerate() {
                closed_empty_objects(inner, &format!("{at}/{i}"), found);
            }
        }
        _ => {}
    }
}

#[test]
fn the_document_is_precise_enough_for_generated_clients() {
    let doc = document();
    let schemas = &doc["components"]["schemas"];

    assert_eq!(doc["servers"][0]["url"], "http://127.0.0.1:8080");

    // A list refers to its item's schema: one `Project` type, not a copy per list.
    let mut lists = 0;
    for (name, schema) in schemas.as_object().unwrap() {
        if let Some(item) = name.strip_prefix("List_") {
            assert_eq!(
                schema["properties"]["data"]["items"],
                json!({"$ref": format!("#/components/schemas/{item}")}),
                "{name}"
            );
            lists += 1;
        }
    }
    assert!(lists >= 10, "{lists} lists");

    // Free-form objects say so.
    let mut found = Vec::new();
    closed_empty_objects(&doc, "#", &mut found);
    assert!(
        found.is_empty(),
        "objects without properties nor additionalProperties: {found:?}"
    );
    assert_eq!(
        schemas["ErrorBody"]["properties"]["details"]["additionalProperties"], true,
        "ErrorBody.details"
    );
    assert_eq!(
        schemas["IngestResult"]["properties"]["facts"]["additionalProperties"], true,
        "IngestResult.facts"
    );
    // `Job` is one variant per family of kinds, told apart by `kind`, each with a typed
    // `result` (or null) and `JobError` (or null)
    let variants = schemas["Job"]["oneOf"].as_array().expect("Job is a oneOf");
    assert_eq!(schemas["Job"]["discriminator"]["propertyName"], "kind");
    let mut kinds = Vec::new();
    for variant in variants {
        let variant = resolve(&doc, variant);
        let properties = &variant["properties"];
        kinds.extend(
            properties["kind"]["enum"]
                .as_array()
                .unwrap()
                .iter()
                .cloned(),
        );
        let result = &properties["result"]["oneOf"];
        assert!(
            resolve(&doc, &result[0])["required"]
                .as_array()
                .is_some_and(|r| !r.is_empty()),
            "{variant}"
        );
        assert_eq!(result[1], json!({"type": "null"}));
        assert_eq!(
            properties["error"]["oneOf"][0],
            json!({"$ref": "#/components/schemas/JobError"})
        );
    }
    let mut all: Vec<Value> = layers_env::Task::KINDS.iter().map(|k| json!(k)).collect();
    all.sort_by_key(|k| k.to_string());
    kinds.sort_by_key(|k| k.to_string());
    assert_eq!(kinds, all, "every kind a worker runs, each once");

    // Bounds the server checks.
    let items = |schema: &str, field: &str| {
        let property = &schemas[schema]["properties"][field];
        (property["minItems"].as_u64(), property["maxItems"].as_u64())
    };
    assert_eq!(items("PublishRequest", "targets"), (Some(1), Some(10)));
    assert_eq!(items("ScheduleRequest", "targets"), (Some(1), Some(10)));
    assert_eq!(items("UrlUpload", "urls"), (Some(1), Some(10)));
    assert_eq!(items("SessionRequest", "files"), (Some(1), Some(10)));
    assert_eq!(items("AdTargeting", "countries"), (Some(1), Some(50)));
    assert_eq!(items("CampaignRequest", "creatives"), (None, Some(5)));
    assert_eq!(items("CampaignRequest", "keywords"), (None, Some(100)));

    // Closed sets are named enums.
    for (schema, field, named) in [
        ("GenerateBody", "format", "ContentFormat"),
        ("FileDeclaration", "contentType", "UploadContentType"),
        ("CampaignRequest", "objective", "CampaignObjective"),
        ("OauthUrlRequest", "platform", "SocialPlatform"),
        ("FireEvent", "type", "EventType"),
    ] {
        assert_eq!(
            schemas[schema]["properties"][field]["$ref"],
            format!("#/components/schemas/{named}"),
            "{schema}.{field}"
        );
        assert!(schemas[named]["enum"]
            .as_array()
            .is_some_and(|e| !e.is_empty()));
    }
    assert!(schemas["ContentFormat"]["enum"]
        .as_array()
        .unwrap()
        .contains(&json!("slideshow")));
    // Parameters too (schemathesis sends what the schema allows).
    let param = |method: &str, path: &str, name: &str| {
        let params = doc["paths"][path][method]["parameters"].as_array().unwrap();
        let param = params.iter().find(|p| p["name"] == name).unwrap();
        param["schema"].clone()
    };
    assert_eq!(
        param(
            "post",
            "/v1/projects/{projectId}/content/{format}",
            "format"
        )["$ref"],
        "#/components/schemas/ContentFormat"
    );
    assert!(param("get", "/v1/jobs", "status")["enum"]
        .as_array()
        .is_some_and(|e| e.contains(&json!("canceled"))));
    assert_eq!(
        param("get", "/v1/social/sandbox-complete", "outcome")["enum"],
        json!(["connected", "access_denied"])
    );

    // Days are dates.
    for path in [
        "/v1/projects/{projectId}/metrics",
        "/v1/projects/{projectId}/ads/metrics",
    ] {
        for param in doc["paths"][path]["get"]["parameters"].as_array().unwrap() {
            if param["name"] == "from" || param["name"] == "to" {
                assert_eq!(
                    param["schema"]["format"], "date",
                    "{path} {}",
                    param["name"]
                );
            }
        }
    }

    // The Idempotency-Key's pattern, and its 400 even on writes without a body.
    for (method, path) in operations(&doc) {
        let op = &doc["paths"][&path][method.to_lowercase()];
        let Some(key) = op["parameters"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == "Idempotency-Key"))
        else {
            continue;
        };
        assert_eq!(
            key["schema"]["pattern"], "^[ -~]{1,255}$",
            "{method} {path}"
        );
        assert!(
            op["responses"]["400"]["description"]
                .as_str()
                .is_some_and(|d| d.contains("Idempotency-Key")),
            "{method} {path} documents the 400 of a bad Idempotency-Key"
        );
    }

    // Request bodies: no `default` (generators make such fields required) and no required
    // field the server would default.
    for (method, path) in operations(&doc) {
        let op = &doc["paths"][&path][method.to_lowercase()];
        let Some(name) = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            .as_str()
            .and_then(|r| r.strip_prefix("#/components/schemas/"))
        else {
            continue;
        };
        for (field, property) in schemas[name]["properties"]
            .as_object()
            .into_iter()
            .flatten()
        {
            assert!(
                property.get("default").is_none(),
                "{name}.{field} has a default"
            );
        }
    }

    // Examples of times to come never expire.
    for (schema, field) in [
        ("ScheduleRequest", "publishAt"),
        ("CampaignRequest", "endAt"),
        ("PatchRequest", "endAt"),
    ] {
        let example = schemas[schema]["properties"][field]["example"]
            .as_str()
            .unwrap_or_default();
        assert!(example.starts_with("2099-"), "{schema}.{field}: {example}");
    }
}

/// The parameter `name` of `method path`.
fn parameter<'a>(doc: &'a Value, method: &str, path: &str, name: &str) -> &'a Value {
    doc["paths"][path][method]["parameters"]
        .as_array()
        .unwrap_or_else(|| panic!("{method} {path} has parameters"))
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{method} {path} has no parameter {name}"))
}

/// The rules the handlers enforce are in the document (`openapi/precise.rs`), so that a
/// request it allows is one the API accepts: ids, cursors, text, URLs and `postIds`.
#[test]
fn the_document_states_the_rules_the_api_enforces() {
    let doc = document();
    let schemas = &doc["components"]["schemas"];
    // a list's cursor is an id of the list's own type
    let cursor = parameter(&doc, "get", "/v1/projects", "cursor");
    assert_eq!(cursor["schema"]["pattern"], "^(proj_[0-9a-f]{32})?$");
    let cursor = parameter(&doc, "get", "/v1/jobs", "cursor");
    assert_eq!(cursor["schema"]["pattern"], "^(job_[0-9a-f]{32})?$");
    // an id in a path
    let id = parameter(&doc, "get", "/v1/jobs/{jobId}", "jobId");
    assert_eq!(id["schema"]["pattern"], "^job_[0-9a-f]{32}$");
    // an id in a body
    let target = &schemas["TargetRequest"]["properties"]["socialAccountId"];
    assert_eq!(target["pattern"], "^sa_[0-9a-f]{32}$");
    // a name: bounded, no control or bidirectional formatting character, not blank
    let name = &schemas["CreateProject"]["properties"]["name"];
    assert_eq!(
        (name["minLength"].as_u64(), name["maxLength"].as_u64()),
        (Some(1), Some(200))
    );
    assert!(
        name["pattern"]
            .as_str()
            .unwrap()
            .contains("\\u202A-\\u202E"),
        "{name}"
    );
    // no NUL in any other text of a body
    let hook = &schemas["GenerateBody"]["properties"]["hook"];
    assert_eq!(hook["pattern"], "^[^\\u0000]*$");
    // a URL: http(s), bounded
    let url = &schemas["WebsiteBody"]["properties"]["url"];
    assert_eq!(
        (url["format"].as_str(), url["maxLength"].as_u64()),
        (Some("uri"), Some(2048))
    );
    assert!(
        url["pattern"].as_str().unwrap().starts_with("^https?://"),
        "{url}"
    );
    let repository = &schemas["GithubBody"]["properties"]["repository"];
    assert!(
        repository["pattern"].as_str().unwrap().contains('/'),
        "{repository}"
    );
    // postIds: no empty item
    let post_ids = parameter(&doc, "get", "/v1/projects/{projectId}/metrics", "postIds");
    assert_eq!(
        post_ids["schema"]["pattern"],
        "^[^,]*[^,\\s\\u0085][^,]*(,[^,]*[^,\\s\\u0085][^,]*)*$"
    );
    // the event types a filter takes
    let event_type = parameter(&doc, "get", "/v1/events", "type");
    let event_type = event_type["schema"]["pattern"].as_str().unwrap();
    assert!(event_type.contains("|job\\.succeeded|") && event_type.ends_with(")?$"));
    // a time zone chrono-tz knows
    let timezone = schemas["CreateProject"]["properties"]["timezone"]["pattern"]
        .as_str()
        .unwrap();
    assert!(timezone.contains("|Europe/Paris|") && timezone.contains("|Etc/GMT\\+1|"));
    // bounded integers, non-empty arrays and closed sets
    let targeting = &schemas["AdTargeting"]["properties"];
    assert_eq!(
        (
            targeting["ageMin"]["minimum"].as_i64(),
            targeting["ageMin"]["maximum"].as_i64()
        ),
        (Some(13), Some(65))
    );
    assert_eq!(
        schemas["FileDeclaration"]["properties"]["sizeBytes"]["minimum"],
        1
    );
    assert_eq!(
        schemas["UpdateEndpoint"]["properties"]["events"]["minItems"],
        1
    );
    let countries = targeting["countries"]["items"]["enum"].as_array().unwrap();
    assert!(countries.contains(&json!("US")) && !countries.contains(&json!("ZZ")));
    // a language tag: every one the pattern allows is one `LanguageTag` keeps as it is
    let language = schemas["CreateProject"]["properties"]["primaryLanguage"]["pattern"]
        .as_str()
        .unwrap();
    let (languages, regions) = language
        .strip_prefix("^(")
        .and_then(|p| p.strip_suffix("))?$"))
        .and_then(|p| p.split_once(")(-("))
        .expect("^(languages)(-(regions))?$");
    assert!(languages.split('|').count() > 150 && regions.split('|').count() > 200);
    for language in languages.split('|') {
        for tag in std::iter::once(language.to_owned())
            .chain(regions.split('|').map(|r| format!("{language}-{r}")))
        {
            let parsed = layers_projects::LanguageTag::parse(&tag);
            assert_eq!(
                parsed.map(|t| t.as_str().to_owned()).ok(),
                Some(tag.clone())
            );
        }
    }
}

/// The schema `value` refers to (`{"$ref": "#/components/schemas/X"}`), or `value` itself.
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value["$ref"].as_str() {
        Some(r) => {
            let name = r
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("a schema reference: {r}"));
            let schema = &doc["components"]["schemas"][name];
            assert!(schema.is_object(), "{r} is in the document");
            schema
        }
        None => value,
    }
}

/// What in `value` its `schema` does not allow, at `at`: a key that is not a property, a
/// required property missing, a JSON type, `enum` or `const` it does not allow; walked whole
/// (properties, items, `$ref`, `oneOf`). Enough to hold the catalogue's examples against the
/// document, not a JSON Schema validator.
fn misfits(doc: &Value, schema: &Value, value: &Value, at: &str, found: &mut Vec<String>) {
    let schema = resolve(doc, schema);
    if let Some(options) = schema["oneOf"].as_array() {
        let fitting = options.iter().filter(|option| {
            let mut inner = Vec::new();
            misfits(doc, option, value, at, &mut inner);
            inner.is_empty()
        });
        if fitting.count() != 1 {
            found.push(format!("{at}: {value} fits not exactly one of {schema}"));
        }
        return;
    }
    let json_type = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let allowed: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(types) => types.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let fits =
        allowed.contains(&json_type) || (json_type == "integer" && allowed.contains(&"number"));
    if !allowed.is_empty() && !fits {
        found.push(format!(
            "{at}: a {json_type}, the schema allows {allowed:?}"
        ));
    }
    if let Some(values) = schema["enum"].as_array() {
        if !values.contains(value) {
            found.push(format!("{at}: {value} is not one of {values:?}"));
        }
    }
    if schema.get("const").is_some_and(|c| c != value) {
        found.push(format!("{at}: {value} is not {}", schema["const"]));
    }
    if let Value::Object(fields) = value {
        let properties = &schema["properties"];
        for (key, inner) in fields {
            match properties.get(key) {
                Some(property) => misfits(doc, property, inner, &format!("{at}.{key}"), found),
                None if schema["additionalProperties"] == true => {}
                None => found.push(format!("{at}: `{key}` is not a property of its schema")),
            }
        }
        for required in schema["required"].as_array().into_iter().flatten() {
            let required = required.as_str().unwrap();
            if !fields.contains_key(required) {
                found.push(format!("{at}: the required `{required}` is missing"));
            }
        }
    }
    if let (Value::Array(items), Some(item)) = (value, schema.get("items")) {
        for (i, inner) in items.iter().enumerate() {
            misfits(doc, item, inner, &format!("{at}[{i}]"), found);
        }
    }
}

/// The event catalogue (CONTRACT §10) is in the document: one `webhooks` entry per type, its
/// envelope in `Event`'s `oneOf`, and each type's schema fits `example_data` (every key of the
/// example a property, every required property in the example), so the hand-built data
/// schemas and the examples cannot drift apart.
#[test]
fn the_event_catalogue_is_in_the_document_and_fits_the_examples() {
    use layers_webhooks::{example_data, EventType};

    let doc = document();
    let webhooks = doc["webhooks"].as_object().expect("a `webhooks` section");
    assert_eq!(webhooks.len(), EventType::ALL.len());
    let event = &doc["components"]["schemas"]["Event"];
    let envelopes = event["oneOf"].as_array().expect("`Event` is a oneOf");
    assert_eq!(envelopes.len(), EventType::ALL.len());
    assert_eq!(event["discriminator"]["propertyName"], "type");
    let mut found = Vec::new();
    for t in EventType::ALL {
        let name = t.as_str();
        let post = &webhooks[name]["post"];
        assert!(
            post["description"]
                .as_str()
                .is_some_and(|d| d.starts_with(t.summary())),
            "{name}'s description is its summary"
        );
        let body = &post["requestBody"]["content"]["application/json"];
        let envelope_ref = &body["schema"]["$ref"];
        assert_eq!(
            event["discriminator"]["mapping"][name], *envelope_ref,
            "{name}: `Event` maps it to its webhook's envelope"
        );
        assert!(
            envelopes.iter().any(|e| e["$ref"] == *envelope_ref),
            "{name}'s envelope is one of `Event`'s"
        );
        let envelope = resolve(&doc, &body["schema"]);
        assert_eq!(envelope["properties"]["type"]["const"], name);
        let data = example_data(t, "wh_0196b1e4c9a37c2d8e5f0a1b2c3d4e5f");
        assert_eq!(
            body["example"]["data"], data,
            "{name}'s example is example_data"
        );
        assert_eq!(body["example"]["type"], name);
        // The data schema on its own (the `Job` schema too) and the whole envelope.
        let data_schema = &envelope["properties"]["data"];
        let resolved = resolve(&doc, data_schema);
        let shapes = match resolved["oneOf"].as_array() {
            Some(variants) => variants.iter().map(|v| resolve(&doc, v)).collect(),
            None => vec![resolved],
        };
        for shape in shapes {
            assert!(
                shape["properties"]
                    .as_object()
                    .is_some_and(|p| !p.is_empty()),
                "{name}'s data has properties"
            );
        }
        misfits(
            &doc,
            data_schema,
            &data,
            &format!("{name} data"),
            &mut found,
        );
        misfits(&doc, &body["schema"], &body["example"], name, &mut found);
        let mut live = body["example"].clone();
        live.as_object_mut().unwrap().remove("meta");
        misfits(
            &doc,
            &body["schema"],
            &live,
            &format!("{name} (live)"),
            &mut found,
        );
        misfits(&doc, event, &live, &format!("Event {name}"), &mut found);
    }
    assert!(found.is_empty(), "{found:#?}");

    // The checker does catch a drift.
    let mut drifted = example_data(EventType::PostFailed, "wh_x");
    drifted["postId"] = json!("sp_x");
    drifted.as_object_mut().unwrap().remove("containerId");
    let schema = json!({"$ref": "#/components/schemas/PostEventData"});
    let mut found = Vec::new();
    misfits(&doc, &schema, &drifted, "drifted", &mut found);
    assert_eq!(found.len(), 2, "{found:?}");
}

/// Every event type the sandbox emits, through the routes and magic values a partner uses,
/// fits the document's `Event` (exactly one of its envelopes): the data schemas hold against
/// the emitters' own JSON, not only against `example_data`.
#[tokio::test]
async fn every_event_the_sandbox_emits_fits_the_document() {
    use super::ads::{campaign_body, connect, container, sandbox_ad_account};
    use super::test_clocks::advance;

    let app = spawn_app().await;
    let key = app.partner_key(Env::Sandbox).await;
    let project = app.project_id(&key, "Catalogue").await;
    let receiver = wiremock::MockServer::start().await;
    let res = app
        .post(
            "/v1/webhook-endpoints",
            &key,
            &json!({ "url": receiver.uri() }),
        )
        .await;
    assert_eq!(res.status(), 201);
    let endpoint: Value = res.json().await.unwrap();
    let ping = format!(
        "/v1/webhook-endpoints/{}/test",
        endpoint["id"].as_str().unwrap()
    );
    assert_eq!(app.post_empty(&ping, &key).await.status(), 202);

    // content and jobs: completed, failed, canceled
    let content = format!("/v1/projects/{project}/content");
    let cnt = container(&app, &key, &project).await;
    for hook in ["sandbox:fail", "sandbox:slow"] {
        let body = json!({ "format": "image", "hook": hook });
        let res = app.post(&content, &key, &body).await;
        assert_eq!(res.status(), 202, "{hook}");
        let started: Value = res.json().await.unwrap();
        if hook == "sandbox:slow" {
            let job = started["jobId"].as_str().unwrap();
            let res = app
                .post_empty(&format!("/v1/jobs/{job}/cancel"), &key)
                .await;
            assert_eq!(res.status(), 202);
            assert_eq!(app.job_settles(&key, job).await["status"], "canceled");
        }
    }

    // accounts and posts: published, failed (the account then needs reauth), disconnected
    let account = connect(&app, &key, &project, json!({"platform": "instagram"})).await;
    let expiring = connect(&app, &key, &project, json!({"platform": "tiktok"})).await;
    let targets = json!({"targets": [
        {"socialAccountId": account, "caption": "fine"},
        {"socialAccountId": expiring, "caption": "#sandbox_token_expired"},
    ]});
    let res = app
        .post(&format!("/v1/content/{cnt}/publish"), &key, &targets)
        .await;
    assert_eq!(res.status(), 202, "{:?}", res.text().await);
    let path = format!("/v1/projects/{project}/social/accounts/{account}");
    let res = app.request(Method::DELETE, &path, Some(&key)).send().await;
    assert!(res.unwrap().status().is_success());

    // campaigns: created, updated, failed
    let ad_account = sandbox_ad_account(&app, &key, &project).await;
    let campaigns = format!("/v1/projects/{project}/ads/campaigns");
    let mut body = campaign_body(&ad_account, &cnt);
    let res = app.post(&campaigns, &key, &body).await;
    assert_eq!(res.status(), 202, "{:?}", res.text().await);
    let created: Value = res.json().await.unwrap();
    let id = created["campaign"]["id"].as_str().unwrap();
    let res = app
        .post_empty(&format!("/v1/ads/campaigns/{id}/pause"), &key)
        .await;
    assert_eq!(res.status(), 202);
    body["name"] = json!("Spring #sandbox_reject");
    app.post(&campaigns, &key, &body).await;

    // a test clock: advancing, then ready
    let res = app
        .post(
            "/v1/test_helpers/test-clocks",
            &key,
            &json!({ "frozenTime": "2026-01-01T00:00:00Z" }),
        )
        .await;
    assert_eq!(res.status(), 201, "{:?}", res.text().await);
    let clock: Value = res.json().await.unwrap();
    let to = "2026-01-02T00:00:00Z".parse().unwrap();
    advance(&app, &key, clock["id"].as_str().unwrap(), to).await;

    let doc = document();
    let schema = json!({"$ref": "#/components/schemas/Event"});
    let events = app.get_json("/v1/events?limit=100", &key).await;
    let mut seen = BTreeSet::new();
    let mut found = Vec::new();
    for event in events["data"].as_array().unwrap() {
        let name = event["type"].as_str().unwrap().to_owned();
        misfits(&doc, &schema, event, &name, &mut found);
        seen.insert(name);
    }
    assert!(found.is_empty(), "{found:#?}");
    let all: BTreeSet<String> = layers_webhooks::EventType::ALL
        .iter()
        .map(|t| t.as_str().to_owned())
        .collect();
    let missing: Vec<&String> = all.difference(&seen).collect();
    assert!(missing.is_empty(), "not emitted: {missing:?}");

    // every job fits its kind's variant of `Job`, typed result and error included
    let res = app
        .post(
            &format!("/v1/projects/{project}/ingest/appstore"),
            &key,
            &json!({ "iosBundleId": "com.example.app" }),
        )
        .await;
    assert_eq!(res.status(), 202, "{:?}", res.text().await);
    let started: Value = res.json().await.unwrap();
    let ingest = app
        .job_settles(&key, started["jobId"].as_str().unwrap())
        .await;
    assert_eq!(ingest["result"]["source"], "appstore", "{ingest}");
    let schema = json!({"$ref": "#/components/schemas/Job"});
    let jobs = app.get_json("/v1/jobs?limit=100", &key).await;
    let mut kinds = BTreeSet::new();
    for job in jobs["data"].as_array().unwrap() {
        let name = format!("{} {}", job["kind"], job["status"]);
        misfits(&doc, &schema, job, &name, &mut found);
        kinds.insert(job["kind"].as_str().unwrap().to_owned());
    }
    assert!(found.is_empty(), "{found:#?}");
    for kind in [
        "ingest_appstore",
        "content_generate",
        "publish",
        "ads_campaign_create",
        "ads_campaign_update",
        "test_clock_advance",
    ] {
        assert!(kinds.contains(kind), "no {kind} job among {kinds:?}");
    }
    // a planted misfit is caught: a generation's result in a publish job
    let mut wrong = jobs["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["kind"] == "publish" && j["status"] == "succeeded")
        .expect("a succeeded publish job")
        .clone();
    wrong["result"] = json!({ "containerIds": [] });
    misfits(&doc, &schema, &wrong, "planted", &mut found);
    assert!(
        !found.is_empty(),
        "a publish job with a generation's result fits Job"
    );
}
