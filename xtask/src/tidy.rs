//! Tidy tests: the architecture's rules, checked by `cargo xtask test` instead of trusted to a
//! comment (rust-analyzer's `xtask/src/tidy.rs` is the model). Each rule is one `#[test]`; a
//! failure names the crate or file and the rule it breaks. ARCHITECTURE.md lists the rules under
//! "Rules checked by tests".

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::util::{root, target_dir};

/// Crates that serve HTTP. Domain crates speak their own language; only the gateway knows HTTP.
/// A name ending in `*` matches every crate with that prefix (`actix-*`, `axum-*`, …).
const HTTP_SERVER_CRATES: &[&str] = &[
    "actix*",
    "axum*",
    "hyper*",
    "warp",
    "rocket*",
    "tide",
    "poem*",
    "salvo*",
    "gotham",
    "ntex*",
    "tiny_http",
    "trillium*",
    "viz",
    "tower-http",
];

/// The crates that may depend on reqwest directly. Every outbound call of the product goes
/// through the one guarded client crate (`layers-outbound`: private-address checks, timeouts,
/// retries). The test harness (`layers-tests`) and `xtask` are not the product: they call the
/// gateway from outside, as a partner would.
const REQWEST_ALLOWED: &[&str] = &["layers-outbound", "layers-tests", "xtask"];

/// Names on the wire (JSON fields, headers) that belong to the gateway. A domain error that
/// names a field says it in the domain's words; the gateway maps it to the wire name.
const WIRE_NAMES: &[&str] = &[
    "customerExternalId",
    "primaryLanguage",
    "Idempotency-Key",
    "X-Api-Key",
    "variantCount",
    "socialAccountId",
];

#[test]
fn domain_crates_do_not_depend_on_http_servers() {
    let mut violations = Vec::new();
    for package in workspace_packages() {
        if !package.manifest.starts_with(root().join("crates")) {
            continue;
        }
        for dep in &package.normal_deps {
            if HTTP_SERVER_CRATES.iter().any(|p| matches_name(p, dep)) {
                violations.push(format!(
                    "crate `{}` ({}) depends on `{dep}`: a domain crate under crates/ never \
                     depends on an HTTP server crate; only the gateway knows HTTP",
                    package.name,
                    package.relative_manifest(),
                ));
            }
        }
    }
    report("domain crates know no HTTP", violations);
}

#[test]
fn only_the_outbound_crate_depends_on_reqwest() {
    let mut violations = Vec::new();
    for package in workspace_packages() {
        if REQWEST_ALLOWED.contains(&package.name.as_str()) {
            continue;
        }
        if package.normal_deps.iter().any(|d| d == "reqwest") {
            violations.push(format!(
                "crate `{}` ({}) depends on `reqwest` directly: outbound HTTP goes through \
                 `layers-outbound`, the one guarded client (only it, `layers-tests` and `xtask` \
                 may use reqwest)",
                package.name,
                package.relative_manifest(),
            ));
        }
    }
    report("one outbound HTTP client", violations);
}

#[test]
fn gateway_routes_do_not_mention_env_kind() {
    let routes = root().join("gateway/src/routes");
    let mut violations = Vec::new();
    for file in rust_files(&routes) {
        let text = read(&file);
        for (n, line) in text.lines().enumerate() {
            if line.contains("EnvKind") {
                violations.push(format!(
                    "{}:{}: a route module mentions `EnvKind`: handlers never branch on live vs \
                     sandbox; they call the `Env` they are handed",
                    relative(&file),
                    n + 1,
                ));
            }
        }
    }
    report("routes never see EnvKind", violations);
}

/// Calls that wait on someone outside: a fetched URL, a partner's streamed body, a platform
/// reading an ad account.
const OUTSIDE_CALLS: [&str; 3] = [".fetch_all(", ".store_checked(", ".probe("];

#[test]
fn route_handlers_hold_no_connection_across_outside_calls() {
    let routes = root().join("gateway/src/routes");
    let mut violations = Vec::new();
    for file in rust_files(&routes) {
        let text = read(&file);
        for (start, function) in functions(&text) {
            let Some(call) = OUTSIDE_CALLS.iter().filter_map(|c| function.find(c)).min() else {
                continue;
            };
            let signature = &function[..function.find('{').unwrap_or(0)];
            let before = &function[..call];
            // a connection checked out at the function's own level (4 spaces in) would still
            // be held; one inside a block of its own (deeper) was given back when it closed
            let held = before.lines().any(|l| {
                l.contains("pool.get()") && l.starts_with("    ") && !l.starts_with("     ")
            });
            let problem = if signature.contains("Tx") && !signature.contains("Deferred") {
                Some("takes the request's transaction (`Tx`): take `Deferred`, release it before")
            } else if signature.contains("Deferred") && !before.contains(".release()") {
                Some("calls outside before `Deferred::release`")
            } else if held {
                Some("holds a pooled connection checked out before it")
            } else {
                None
            };
            if let Some(problem) = problem {
                violations.push(format!(
                    "{}:{}: a handler that waits on someone outside {problem}",
                    relative(&file),
                    start + 1,
                ));
            }
        }
    }
    report(
        "no connection or transaction across outside calls",
        violations,
    );
}

/// Each `fn` of `text` from its line to the next one's, with its first line's index.
fn functions(text: &str) -> Vec<(usize, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let starts: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| {
            let l = l.trim_start();
            l.starts_with("async fn ")
                || l.starts_with("fn ")
                || l.starts_with("pub fn ")
                || l.starts_with("pub async fn ")
                || l.starts_with("pub(crate) fn ")
        })
        .map(|(i, _)| i)
        .collect();
    starts
        .iter()
        .enumerate()
        .map(|(k, &i)| {
            let end = starts.get(k + 1).copied().unwrap_or(lines.len());
            (i, lines[i..end].join("\n"))
        })
        .collect()
}

#[test]
fn domain_crates_do_not_speak_wire_names() {
    let mut violations = Vec::new();
    for src in crate_dirs().into_iter().map(|c| c.join("src")) {
        for file in rust_files(&src) {
            for literal in string_literals(&read(&file)) {
                for name in WIRE_NAMES {
                    if literal.text.contains(name) {
                        violations.push(format!(
                            "{}:{}: the string literal {:?} contains the wire name `{name}`: \
                             domain crates speak their own language; the gateway names wire \
                             fields and headers",
                            relative(&file),
                            literal.line,
                            literal.text,
                        ));
                    }
                }
            }
        }
    }
    report("wire names stay in the gateway", violations);
}

#[test]
fn keys_without_default_features_do_not_pull_the_database() {
    let out = Command::new(cargo())
        .current_dir(root())
        .args([
            "tree",
            "-p",
            "layers-keys",
            "--no-default-features",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--offline",
        ])
        .output()
        .expect("could not run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree -p layers-keys failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    let database: Vec<String> = tree
        .lines()
        .filter(|l| l.split_whitespace().next() == Some("tokio-postgres"))
        .map(str::to_owned)
        .collect();
    let violations = if database.is_empty() {
        Vec::new()
    } else {
        vec![format!(
            "crate `layers-keys` without default features depends on {}: parsing and minting \
             keys must not need a database; put the store behind the default `store` feature",
            database[0]
        )]
    };
    report("layers-keys is usable without a database", violations);
}

#[test]
fn every_rust_file_starts_with_a_module_doc() {
    let violations: Vec<String> = rust_files(&root())
        .into_iter()
        .filter(|f| !read(f).starts_with("//!"))
        .map(|f| {
            format!(
                "{}: the file does not start with a `//!` line saying what it is for",
                relative(&f)
            )
        })
        .collect();
    report("every file says what it is for", violations);
}

#[test]
fn every_crate_states_its_dependency_rule() {
    let violations: Vec<String> = workspace_packages()
        .into_iter()
        .filter(|p| !read(&p.manifest).contains("# Dependency rule:"))
        .map(|p| {
            format!(
                "crate `{}` ({}) lacks its `# Dependency rule:` comment: say which crates it \
                 may depend on",
                p.name,
                p.relative_manifest(),
            )
        })
        .collect();
    report("every crate states its dependency rule", violations);
}

#[test]
fn dev_dependencies_do_not_repeat_normal_ones() {
    let mut violations = Vec::new();
    for package in workspace_packages() {
        for dev in package
            .deps
            .iter()
            .filter(|d| d.kind.as_deref() == Some("dev"))
        {
            let repeated = package.deps.iter().any(|normal| {
                normal.kind.is_none()
                    && normal.name == dev.name
                    && !normal.optional
                    && dev.features.iter().all(|f| normal.features.contains(f))
            });
            if repeated {
                violations.push(format!(
                    "crate `{}` ({}) lists `{}` in [dev-dependencies] although [dependencies] \
                     already has it with these features: delete the dev-dependency",
                    package.name,
                    package.relative_manifest(),
                    dev.name,
                ));
            }
        }
    }
    report("no dependency is declared twice", violations);
}

#[test]
fn internal_dependencies_are_used() {
    let mut violations = Vec::new();
    for package in workspace_packages() {
        // Normal dependencies are visible to the library, binaries, tests, examples and benches.
        let code: String = ["src", "tests", "examples", "benches"]
            .iter()
            .flat_map(|d| rust_files(&package.dir().join(d)))
            .map(|f| read(&f))
            .collect();
        for dep in &package.normal_deps {
            if !dep.starts_with("layers-") {
                continue;
            }
            let path = dep.replace('-', "_");
            if !code.contains(&path) {
                violations.push(format!(
                    "crate `{}` ({}) depends on `{dep}` but its code never names `{path}`: \
                     remove the dependency",
                    package.name,
                    package.relative_manifest(),
                ));
            }
        }
    }
    report("every internal dependency is used", violations);
}

// Helpers below; they have tests of their own at the end of the file.

/// A workspace member as `cargo metadata` describes it.
#[derive(Debug)]
struct Package {
    name: String,
    manifest: PathBuf,
    /// The package names of its normal (not dev, not build) dependencies, optional ones included.
    normal_deps: Vec<String>,
    /// Its dependencies of every kind.
    deps: Vec<Dependency>,
}

/// One dependency line of a manifest.
#[derive(Debug)]
struct Dependency {
    name: String,
    /// `None` for a normal dependency, else `dev` or `build`.
    kind: Option<String>,
    optional: bool,
    features: Vec<String>,
}

impl Package {
    fn relative_manifest(&self) -> String {
        relative(&self.manifest)
    }

    fn dir(&self) -> &Path {
        self.manifest.parent().unwrap_or(&self.manifest)
    }
}

/// The workspace members, from `cargo metadata --no-deps` (the declared dependencies are all
/// these rules need, and `--no-deps` needs neither the network nor a resolve).
fn workspace_packages() -> Vec<Package> {
    let out = Command::new(cargo())
        .current_dir(root())
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .output()
        .expect("could not run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metadata: Value =
        serde_json::from_slice(&out.stdout).expect("cargo metadata printed invalid JSON");
    parse_packages(&metadata)
}

fn parse_packages(metadata: &Value) -> Vec<Package> {
    let members: Vec<&str> = metadata["workspace_members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["id"].as_str().is_some_and(|id| members.contains(&id)))
        .map(|p| {
            let deps: Vec<Dependency> = p["dependencies"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|d| Dependency {
                    name: d["name"].as_str().unwrap_or_default().to_owned(),
                    kind: d["kind"].as_str().map(str::to_owned),
                    optional: d["optional"].as_bool().unwrap_or(false),
                    features: d["features"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect(),
                })
                .collect();
            Package {
                name: p["name"].as_str().unwrap_or_default().to_owned(),
                manifest: PathBuf::from(p["manifest_path"].as_str().unwrap_or_default()),
                normal_deps: deps
                    .iter()
                    .filter(|d| d.kind.is_none())
                    .map(|d| d.name.clone())
                    .collect(),
                deps,
            }
        })
        .collect()
}

/// Whether a crate name matches a pattern that is either exact or ends in `*` (a prefix).
fn matches_name(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == pattern,
    }
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// The folders under `crates/`, one per domain crate.
fn crate_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root().join("crates"))
        .expect("crates/ exists")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .collect();
    dirs.sort();
    dirs
}

/// Every `.rs` file under `dir`, skipping build output and hidden folders (`.git`, `.dev`).
pub(crate) fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let target = target_dir();
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                if !name.starts_with('.') && name != "target" && path != target {
                    stack.push(path);
                }
            } else if kind.is_file() && name.ends_with(".rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

pub(crate) fn read(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("could not read {}: {e}", path.display()))
}

pub(crate) fn relative(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Fails with every violation of one rule, one per line.
pub(crate) fn report(rule: &str, violations: Vec<String>) {
    assert!(
        violations.is_empty(),
        "tidy rule broken: {rule} (ARCHITECTURE.md, \"Rules checked by tests\")\n  {}",
        violations.join("\n  ")
    );
}

/// A string literal of a Rust source: its contents as written (escapes left as they are) and the
/// line it starts on.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Literal {
    pub(crate) line: usize,
    pub(crate) text: String,
}

/// The string literals (`"…"`, `b"…"`, `r"…"`, `r#"…"#`, `c"…"`) of a Rust source, skipping
/// comments (doc comments too) and character literals. A lexer of its own rather than a parser
/// crate: it needs to tell only comments, characters and strings apart.
pub(crate) fn string_literals(src: &str) -> Vec<Literal> {
    let chars: Vec<char> = src.chars().collect();
    let mut literals = Vec::new();
    let mut line = 1;
    let mut i = 0;
    // The line breaks in chars[from..to].
    let count_lines =
        |from: usize, to: usize| chars[from..to].iter().filter(|&&c| c == '\n').count();
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let start = i;
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            line += count_lines(start, i);
        } else if c == '\'' {
            // A character literal ('x', '\n', '\u{1F600}', '"') or a lifetime ('a).
            if next == Some('\\') {
                i += 2;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
            }
        } else if c == '"' {
            let start = i + 1;
            let mut end = start;
            while end < chars.len() && chars[end] != '"' {
                end += if chars[end] == '\\' { 2 } else { 1 };
            }
            let end = end.min(chars.len());
            literals.push(Literal {
                line,
                text: chars[start..end].iter().collect(),
            });
            let stop = (end + 1).min(chars.len());
            line += count_lines(i, stop);
            i = stop;
        } else if is_ident_char(c) {
            // A whole identifier at once, so that the `r` ending `for` is never taken for a raw
            // string prefix. `b"…"` and `c"…"` go on to the quote on the next turn.
            let start = i;
            while i < chars.len() && is_ident_char(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            if !matches!(word.as_str(), "r" | "br" | "cr") {
                continue;
            }
            let mut open = i;
            while chars.get(open) == Some(&'#') {
                open += 1;
            }
            if chars.get(open) != Some(&'"') {
                continue; // a raw identifier such as r#type
            }
            // r"…", r#"…"#: no escapes; it ends at a quote followed by as many hashes.
            let hashes = open - i;
            let body = open + 1;
            let mut end = body;
            while end < chars.len()
                && !(chars[end] == '"' && (1..=hashes).all(|h| chars.get(end + h) == Some(&'#')))
            {
                end += 1;
            }
            literals.push(Literal {
                line,
                text: chars[body..end].iter().collect(),
            });
            let stop = (end + 1 + hashes).min(chars.len());
            line += count_lines(start, stop);
            i = stop;
        } else {
            if c == '\n' {
                line += 1;
            }
            i += 1;
        }
    }
    literals
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

#[cfg(test)]
mod helper_tests {
    use super::*;

    fn texts(src: &str) -> Vec<(usize, &str)> {
        // Leaks are fine in a test: it keeps the assertions short.
        string_literals(src)
            .into_iter()
            .map(|l| (l.line, &*Box::leak(l.text.into_boxed_str())))
            .collect()
    }

    #[test]
    fn string_literals_skip_comments_and_characters() {
        let src = r###"//! a "doc" comment
/// "customerExternalId" in a doc comment
fn f<'a>(x: &'a str) -> char { // "line comment"
    /* "block" /* "nested" */ still "comment" */
    let q = '"';
    let e = '\'';
    let s = "one \"two\" three";
    let r = r#"raw "quoted" text"#;
    let b = b"bytes";
    let br = br"raw bytes";
    let multi = "first
second";
    let after = "after";
    for"x" in y {}
    'x'
}
"###;
        assert_eq!(
            texts(src),
            vec![
                (7, r#"one \"two\" three"#),
                (8, r#"raw "quoted" text"#),
                (9, "bytes"),
                (10, "raw bytes"),
                (11, "first\nsecond"),
                (13, "after"),
                (14, "x"),
            ]
        );
    }

    #[test]
    fn crate_name_patterns_match_exact_names_and_prefixes() {
        assert!(matches_name("actix*", "actix-web"));
        assert!(matches_name("actix*", "actix-http"));
        assert!(matches_name("warp", "warp"));
        assert!(!matches_name("warp", "warpdrive"));
        assert!(!matches_name("hyper*", "reqwest"));
    }

    #[test]
    fn packages_are_read_from_cargo_metadata() {
        let metadata = serde_json::json!({
            "workspace_members": ["a 0.1.0 (path+file:///w/crates/a)"],
            "packages": [
                {
                    "id": "a 0.1.0 (path+file:///w/crates/a)",
                    "name": "layers-a",
                    "manifest_path": "/w/crates/a/Cargo.toml",
                    "dependencies": [
                        {"name": "actix-web", "kind": null},
                        {"name": "reqwest", "kind": "dev"},
                        {"name": "cc", "kind": "build"}
                    ]
                },
                {"id": "other", "name": "serde", "manifest_path": "/r/serde/Cargo.toml",
                 "dependencies": []}
            ]
        });
        let packages = parse_packages(&metadata);
        assert_eq!(packages.len(), 1);
        assert_eq!(packages[0].name, "layers-a");
        assert_eq!(packages[0].normal_deps, vec!["actix-web"]);
    }
}
