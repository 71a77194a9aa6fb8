//! Tidy tests on the shape of the product's code (see `tidy.rs` for the dependency rules): the
//! environment seam, where SQL lives, whose tables a domain reads, and how long a function may
//! be. Each rule reads the non-test code of the product: `crates/*/src`, `gateway/src`,
//! `gateway/examples` and `xtask/src`, without `tests.rs` files and `#[cfg(test)] mod tests`
//! blocks. ARCHITECTURE.md lists the rules under "Rules checked by tests".

use std::path::{Path, PathBuf};

use crate::tidy::{read, relative, report, rust_files, string_literals};
use crate::util::root;

/// The environment seam: the only files whose code names a particular environment
/// (`EnvKind::Live`, `Intake::Sandbox`, …), each with why. Everywhere else code is handed the
/// implementation of its environment and calls it; stores only stamp and filter `is_sandbox`.
const SEAM: &[(&str, &str)] = &[
    ("crates/core/src/env.rs", "defines the two environments"),
    (
        "crates/keys/src/",
        "derives a request's environment from its key prefix, and a test key's tier",
    ),
    (
        "crates/env/src/lib.rs",
        "builds the live and the sandbox sets, picks one per job row",
    ),
    (
        "gateway/src/cli.rs",
        "the operator names the environment of a key it issues",
    ),
    (
        "crates/credits/src/store.rs",
        "CreditGate: charge the wallet (live) or write the audit row (sandbox)",
    ),
    (
        "crates/ingest/src/lib.rs",
        "Ingest: call the platforms or derive facts from the input",
    ),
    (
        "crates/content/src/generate.rs",
        "Generation: call the generator or complete with fixture media",
    ),
    (
        "crates/content/src/ingest_media.rs",
        "Intake: fetch and store media or stand fixture media in",
    ),
    (
        "crates/publishing/src/run.rs",
        "Publisher: call the platforms or publish in the request",
    ),
    (
        "crates/metrics/src/source.rs",
        "Metrics: synced insights or synthesized series",
    ),
    (
        "crates/social/src/oauth.rs",
        "OAuth: the platforms' consent or sandbox-complete",
    ),
    (
        "crates/ads/src/seam.rs",
        "Ads: read ad accounts and create campaigns on the platforms, or in the request",
    ),
];

/// The longest a non-test function may be, from its `fn` line to its closing brace.
const MAX_FUNCTION_LINES: usize = 80;

/// The owner of each table (and of each view a domain publishes for others to read): only the
/// owning crate's SQL names it.
const TABLE_OWNERS: &[(&str, &str)] = &[
    ("organizations", "orgs"),
    ("plans", "orgs"),
    ("organization_usage", "limits"),
    ("rate_limit_buckets", "limits"),
    ("api_keys", "keys"),
    ("projects", "projects"),
    ("influencers", "projects"),
    ("test_clocks", "projects"),
    ("credit_balances", "credits"),
    ("credit_ledger", "credits"),
    ("credit_audit", "credits"),
    ("sandbox_credit_exhaustion", "credits"),
    ("idempotency_keys", "idempotency"),
    ("jobs", "jobs"),
    ("content_containers", "content"),
    ("content_assets", "content"),
    ("upload_sessions", "content"),
    ("upload_files", "content"),
    ("social_accounts", "social"),
    ("oauth_states", "social"),
    ("scheduled_posts", "publishing"),
    ("platform_posts", "publishing"),
    ("post_metrics_daily", "metrics"),
    ("ad_accounts", "ads"),
    ("ads_campaigns", "ads"),
    ("ads_campaign_days", "ads"),
    ("ads_metrics_daily", "ads"),
    ("events", "webhooks"),
    ("webhook_endpoints", "webhooks"),
    ("webhook_deliveries", "webhooks"),
    ("webhook_attempts", "webhooks"),
];

/// The views a domain publishes for others to read (declared in `migrations/`, each with its
/// owner): any crate may name them; only the owner names the tables beneath.
const PUBLISHED_VIEWS: &[(&str, &str)] = &[
    ("organization_access", "orgs"),
    ("project_clock_times", "projects"),
];

/// The statements SQL literals start with.
const SQL_STARTS: &[&str] = &[
    "SELECT ",
    "INSERT ",
    "UPDATE ",
    "DELETE ",
    "WITH ",
    "LISTEN ",
    "UNLISTEN ",
    "NOTIFY ",
];

#[test]
fn only_the_seam_names_an_environment() {
    let mut violations = Vec::new();
    for (file, code) in product_code() {
        let path = relative(&file);
        if crate_of(&path).is_none() && !path.starts_with("gateway/src/") {
            continue;
        }
        if SEAM.iter().any(|(seam, _)| path.starts_with(seam)) {
            continue;
        }
        for (n, line) in code.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            if let Some(named) = names_an_environment(line) {
                violations.push(format!(
                    "{path}:{}: names `{named}` outside the environment seam: call the \
                     implementation you are handed, or move the difference into the seam",
                    n + 1,
                ));
            }
            if branches_on_the_environment(line) {
                violations.push(format!(
                    "{path}:{}: branches on `env.is_sandbox()` outside the environment seam: \
                     stamp and filter with it, let the seam decide behaviour",
                    n + 1,
                ));
            }
        }
    }
    report("only the seam names an environment", violations);
}

#[test]
fn sql_lives_in_store_modules() {
    let mut violations = Vec::new();
    for (file, code) in product_code() {
        let path = relative(&file);
        // layers-db is the database itself; benchmarks (examples, xtask) set up their own rows
        let exempt = ["crates/db/", "gateway/examples/", "xtask/"];
        if is_store_module(&path) || exempt.iter().any(|e| path.starts_with(e)) {
            continue;
        }
        for literal in sql_literals(&code) {
            violations.push(format!(
                "{path}:{}: SQL outside a store module (`store.rs`, `*_store.rs`, `store/`): \
                 move the statement into the crate's store",
                literal.0,
            ));
        }
    }
    report("SQL only in store modules", violations);
}

#[test]
fn no_domain_reads_another_domains_tables() {
    let mut violations = Vec::new();
    for (file, code) in product_code() {
        let path = relative(&file);
        let Some(domain) = crate_of(&path) else {
            continue;
        };
        for (line, sql) in sql_literals(&code) {
            for table in tables_named(&sql) {
                if PUBLISHED_VIEWS.iter().any(|(view, _)| *view == table) {
                    continue;
                }
                let owner = TABLE_OWNERS.iter().find(|(t, _)| *t == table);
                if let Some((_, owner)) = owner.filter(|(_, owner)| *owner != domain) {
                    violations.push(format!(
                        "{path}:{line}: layers-{domain} names `{table}`, a table of \
                         layers-{owner}: call a store function of layers-{owner}"
                    ));
                }
            }
        }
    }
    report("no domain reads another domain's tables", violations);
}

#[test]
fn no_function_is_longer_than_80_lines() {
    let mut violations = Vec::new();
    for (file, code) in product_code() {
        for (start, name, lines) in function_lengths(&code) {
            if lines > MAX_FUNCTION_LINES {
                violations.push(format!(
                    "{}:{}: `{name}` is {lines} lines (at most {MAX_FUNCTION_LINES}): split it \
                     into named steps",
                    relative(&file),
                    start + 1,
                ));
            }
        }
    }
    report("no function over 80 lines", violations);
}

/// Every product source file with its non-test code.
fn product_code() -> Vec<(PathBuf, String)> {
    let root = root();
    let mut dirs: Vec<PathBuf> = vec![
        root.join("gateway/src"),
        root.join("gateway/examples"),
        root.join("xtask/src"),
    ];
    for entry in std::fs::read_dir(root.join("crates"))
        .expect("crates/ exists")
        .flatten()
    {
        dirs.push(entry.path().join("src"));
    }
    dirs.iter()
        .flat_map(|d| rust_files(d))
        .filter(|f| !is_test_file(f))
        .map(|f| {
            let code = without_tests(&read(&f));
            (f, code)
        })
        .collect()
}

fn is_test_file(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n == "tests.rs")
        || path.components().any(|c| c.as_os_str() == "tests")
        || path.ends_with("xtask/src/tidy.rs")
        || path.ends_with("xtask/src/tidy_code.rs")
}

/// `code` up to its `#[cfg(test)] mod tests {` block (test modules come last in a file).
fn without_tests(code: &str) -> String {
    let lines: Vec<&str> = code.lines().collect();
    let end = lines
        .windows(2)
        .position(|w| w[0].starts_with("#[cfg(") && w[0].contains("test") && w[1].ends_with('{'))
        .unwrap_or(lines.len());
    lines[..end].join("\n")
}

/// The domain of a file under `crates/<name>/` (`content`, `jobs`, …).
fn crate_of(path: &str) -> Option<&str> {
    path.strip_prefix("crates/")?.split('/').next()
}

/// `store.rs`, `*_store.rs` or a file under a `store/` folder.
fn is_store_module(path: &str) -> bool {
    let p = Path::new(path);
    let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    stem == "store" || stem.ends_with("_store") || p.components().any(|c| c.as_os_str() == "store")
}

/// The first `Seam::Live`/`Seam::Sandbox` path in `line` (a type name, then the variant).
fn names_an_environment(line: &str) -> Option<String> {
    for variant in ["::Live", "::Sandbox"] {
        let mut from = 0;
        while let Some(at) = line[from..].find(variant).map(|i| i + from) {
            let end = at + variant.len();
            from = end;
            let whole = !line[end..].starts_with(|c: char| c.is_alphanumeric() || c == '_');
            let ty: String = line[..at]
                .chars()
                .rev()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            if whole && ty.starts_with(|c: char| c.is_ascii_uppercase()) {
                return Some(format!("{ty}{variant}"));
            }
        }
    }
    None
}

/// Whether `line` makes a decision on its own environment (`if !self.env.is_sandbox()`), as
/// opposed to stamping a row with it or comparing a row's stamp with it (a filter).
fn branches_on_the_environment(line: &str) -> bool {
    let t = line.trim_start();
    let conditional = t.starts_with("if ")
        || t.starts_with("} else if ")
        || t.contains(" && ")
        || t.contains(" || ");
    conditional && line.contains("env.is_sandbox()") && !line.contains("!=") && !line.contains("==")
}

/// The SQL string literals of `code`, with their lines.
fn sql_literals(code: &str) -> Vec<(usize, String)> {
    string_literals(code)
        .into_iter()
        .filter(|l| {
            let text = l.text.trim_start();
            SQL_STARTS.iter().any(|s| text.starts_with(s))
        })
        .map(|l| (l.line, l.text))
        .collect()
}

/// The tables a statement names after `FROM`, `JOIN`, `INTO`, `UPDATE` or `TABLE`.
fn tables_named(sql: &str) -> Vec<String> {
    let words: Vec<&str> = sql
        .split(|c: char| c.is_whitespace() || c == '\\' || c == '(' || c == ',')
        .filter(|w| !w.is_empty())
        .collect();
    words
        .windows(2)
        .filter(|w| matches!(w[0], "FROM" | "JOIN" | "INTO" | "UPDATE" | "TABLE"))
        .map(|w| w[1].trim_end_matches([')', ';']).to_owned())
        .fold(Vec::new(), |mut tables, t| {
            if !tables.contains(&t) {
                tables.push(t);
            }
            tables
        })
}

/// Each function of `code`: its first line's index, its name and its length in lines (from the
/// `fn` line to the closing brace at the same indentation).
fn function_lengths(code: &str) -> Vec<(usize, String, usize)> {
    let lines: Vec<&str> = code.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let Some(after) = ["pub(crate) ", "pub(super) ", "pub ", ""]
            .iter()
            .filter_map(|v| trimmed.strip_prefix(v))
            .find_map(|rest| {
                let rest = rest.strip_prefix("const ").unwrap_or(rest);
                let rest = rest.strip_prefix("async ").unwrap_or(rest);
                rest.strip_prefix("fn ")
            })
        else {
            continue;
        };
        let name: String = after
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let indent = &line[..line.len() - trimmed.len()];
        let closing = format!("{indent}}}");
        // a declaration without a body (a trait method) ends on its own line
        let end = if trimmed.ends_with(';') || trimmed.ends_with('}') {
            i
        } else {
            (i + 1..lines.len())
                .find(|&j| lines[j].starts_with(&closing))
                .unwrap_or(i)
        };
        out.push((i, name, end - i + 1));
    }
    out
}

#[test]
fn published_views_are_declared_by_their_owner() {
    let migrations = std::fs::read_dir(root().join("migrations"))
        .expect("migrations/ exists")
        .flatten()
        .map(|e| read(&e.path()))
        .collect::<Vec<_>>()
        .join("\n");
    let mut violations = Vec::new();
    for (view, owner) in PUBLISHED_VIEWS {
        let declared = migrations.contains(&format!("CREATE VIEW {view} "))
            || migrations.contains(&format!("CREATE OR REPLACE VIEW {view} "));
        if !declared {
            violations.push(format!(
                "the view `{view}` of layers-{owner} is in no migration"
            ));
        }
        if TABLE_OWNERS.iter().any(|(t, _)| t == view) {
            violations.push(format!("`{view}` is listed both as a table and as a view"));
        }
    }
    report("published views exist", violations);
}

#[test]
fn the_code_rules_see_what_they_look_for() {
    assert_eq!(
        names_an_environment("match x { EnvKind::Live => 1"),
        Some("EnvKind::Live".into())
    );
    assert_eq!(
        names_an_environment("Intake::Sandbox,"),
        Some("Intake::Sandbox".into())
    );
    assert_eq!(
        names_an_environment("EnvKind::from_sandbox(row.get(0))"),
        None
    );
    assert_eq!(names_an_environment("x::Sandboxed"), None);
    assert!(branches_on_the_environment(
        "        if !self.env.is_sandbox() {"
    ));
    assert!(branches_on_the_environment(
        "        if clock.is_some() && self.env.is_sandbox() {"
    ));
    assert!(!branches_on_the_environment(
        "        if found.is_sandbox != self.env.is_sandbox() {"
    ));
    assert!(!branches_on_the_environment(
        "                &self.env.is_sandbox(),"
    ));
    assert!(is_store_module("crates/content/src/store.rs"));
    assert!(is_store_module("crates/content/src/uploads_store.rs"));
    assert!(is_store_module("crates/jobs/src/store/claim.rs"));
    assert!(!is_store_module("crates/jobs/src/worker.rs"));
    assert_eq!(
        tables_named(
            "SELECT 1 FROM projects p JOIN influencers i ON (x) \\\n INSERT INTO jobs (id)"
        ),
        vec!["projects", "influencers", "jobs"]
    );
    let code = "fn a() {\n    x;\n}\n\nimpl B {\n    pub async fn c(\n        d: u8,\n    ) {\n        e;\n    }\n    fn f();\n}\n#[cfg(test)]\nmod tests {\n    fn g() {\n    }\n}";
    let lengths: Vec<(String, usize)> = function_lengths(&without_tests(code))
        .into_iter()
        .map(|(_, n, l)| (n, l))
        .collect();
    assert_eq!(
        lengths,
        vec![("a".into(), 3), ("c".into(), 5), ("f".into(), 1)]
    );
    assert_eq!(crate_of("crates/content/src/store.rs"), Some("content"));
    assert_eq!(crate_of("gateway/src/app.rs"), None);
}
