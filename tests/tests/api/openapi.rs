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
    for (name, field) in [
        ("Event", "data"),
        ("Event", "meta"),
        ("Job", "result"),
        ("Job", "error"),
        ("ErrorBody", "details"),
    ] {
        assert_eq!(
            schemas[name]["properties"][field]["additionalProperties"], true,
            "{name}.{field}"
        );
    }

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
