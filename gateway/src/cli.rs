//! The operator CLI (CONTRACT §2): `layers-gateway serve | migrate | worker | openapi | admin …`. Operator commands
//! print one JSON object on stdout; bad input exits non-zero with a one-line reason on stderr.

use clap::{Parser, Subcommand, ValueEnum};
use layers_core::EnvKind;
use layers_keys::{store, KeyRecord, Scopes, Tier};
use layers_orgs::{OrgId, Organization, Plan};
use ring::rand::SystemRandom;
use serde_json::{json, Value};

use crate::config::Settings;
use crate::wire::time;
use crate::Application;

#[derive(Debug, Parser)]
#[command(
    name = "layers-gateway",
    version,
    about = "The Layers Partner API gateway and operator CLI"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply pending migrations, then serve the HTTP API
    Serve,
    /// Apply pending migrations only
    Migrate,
    /// Run job workers only (no HTTP), until SIGTERM or Ctrl-C
    Worker,
    /// Print the OpenAPI document (as served at /v1/openapi.json); needs no database
    Openapi,
    /// Operator commands (read DATABASE_URL, print one JSON object)
    Admin {
        #[command(subcommand)]
        command: Admin,
    },
}

#[derive(Debug, Subcommand)]
pub enum Admin {
    /// Organizations
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// Credits
    Credits {
        #[command(subcommand)]
        command: CreditsCommand,
    },
    /// API keys
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organization
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, value_enum, default_value_t = PlanArg::Partner)]
        plan: PlanArg,
        #[arg(long, default_value_t = 0)]
        credits: i64,
        #[arg(long)]
        monthly_quota: Option<i64>,
    },
    /// Move an organization to another plan
    SetPlan {
        org_id: String,
        #[arg(value_enum)]
        plan: PlanArg,
    },
}

#[derive(Debug, Subcommand)]
pub enum CreditsCommand {
    /// Add credits to an organization
    Grant {
        org_id: String,
        #[arg(allow_negative_numbers = true)]
        amount: i64,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Mint a key; the full key is printed once
    Mint {
        #[arg(long)]
        org: String,
        #[arg(long, value_enum)]
        env: EnvArg,
        #[arg(long, default_value = "*")]
        scopes: String,
        #[arg(long, value_enum, default_value_t = TierArg::Standard)]
        tier: TierArg,
    },
    /// Revoke a key for ever
    Revoke { api_key_id: String },
    /// Turn a key's kill switch on
    Kill { api_key_id: String },
    /// Turn a key's kill switch off
    Unkill { api_key_id: String },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PlanArg {
    Partner,
    Free,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum EnvArg {
    Test,
    Live,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum TierArg {
    Standard,
    Pilot,
}

impl From<PlanArg> for Plan {
    fn from(p: PlanArg) -> Plan {
        match p {
            PlanArg::Partner => Plan::Partner,
            PlanArg::Free => Plan::Free,
        }
    }
}

/// A failed command: its one-line reason.
#[derive(Debug)]
pub struct Failure(pub String);

/// The error and its causes on one line, outermost first (`could not …: db error: ERROR: …`),
/// each cause once even where a layer repeats its source in its own message.
pub fn cause_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut next = err.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = cause.source();
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl<E: std::error::Error + 'static> From<E> for Failure {
    fn from(e: E) -> Failure {
        Failure(cause_chain(&e))
    }
}

impl Failure {
    /// A failure with some context in front of its cause chain.
    fn context(what: &str, e: impl std::error::Error + 'static) -> Failure {
        Failure(format!("{what}: {}", cause_chain(&e)))
    }
}

fn database_url() -> Result<String, Failure> {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| {
            Failure("DATABASE_URL is not set: point it at the Layers PostgreSQL database".into())
        })
}

fn org_id(raw: &str) -> Result<OrgId, Failure> {
    OrgId::parse(raw).map_err(|e| Failure(format!("ORG_ID {e}")))
}

fn api_key_id(raw: &str) -> Result<uuid::Uuid, Failure> {
    uuid::Uuid::try_parse(raw)
        .map_err(|_| Failure("API_KEY_ID must be a UUID as printed by key mint".into()))
}

/// The organization as operator commands print it.
pub fn org_json(o: &Organization) -> Value {
    json!({
        "organizationId": o.id.to_string(),
        "name": o.name,
        "plan": o.plan.as_str(),
        "monthlyQuota": o.monthly_quota,
        "createdAt": time(o.created_at),
    })
}

/// A key as operator commands print it: never its secret.
pub fn key_json(k: &KeyRecord) -> Value {
    json!({
        "apiKeyId": k.id.to_string(),
        "keyId": k.key_id.as_str(),
        "organizationId": k.organization_id.to_string(),
        "environment": k.env.key_segment(),
        "scopes": k.scopes.to_strings(),
        // what requests are limited by: a test key is always pilot
        "tier": k.tier.effective(k.env).as_str(),
        "state": match k.state() {
            layers_keys::KeyState::Active => "active",
            layers_keys::KeyState::Killed => "killed",
            layers_keys::KeyState::Revoked => "revoked",
        },
        "createdAt": time(k.created_at),
        "revokedAt": k.revoked_at.map(time),
        "killedAt": k.killed_at.map(time),
    })
}

/// An operator command with every argument parsed: nothing here needs the database, so bad
/// input fails before anything is written (or even connected to).
enum Op {
    CreateOrg {
        name: String,
        plan: Plan,
        credits: i64,
        monthly_quota: Option<i64>,
    },
    SetPlan(OrgId, Plan),
    Grant(OrgId, i64),
    Mint {
        org: OrgId,
        env: EnvKind,
        scopes: Scopes,
        tier: Tier,
    },
    Revoke(uuid::Uuid),
    Kill(uuid::Uuid),
    Unkill(uuid::Uuid),
}

fn parse(command: Admin) -> Result<Op, Failure> {
    Ok(match command {
        Admin::Org {
            command:
                OrgCommand::Create {
                    name,
                    plan,
                    credits,
                    monthly_quota,
                },
        } => {
            if credits < 0 {
                return Err(Failure("--credits must not be negative".into()));
            }

            Op::CreateOrg {
                name,
                plan: plan.into(),
                credits,
                monthly_quota,
            }
        }
        Admin::Org {
            command: OrgCommand::SetPlan { org_id: id, plan },
        } => Op::SetPlan(org_id(&id)?, plan.into()),
        Admin::Credits {
            command: CreditsCommand::Grant { org_id: id, amount },
        } => Op::Grant(org_id(&id)?, amount),
        Admin::Key {
            command:
                KeyCommand::Mint {
                    org,
                    env,
                    scopes,
                    tier,
                },
        } => Op::Mint {
            org: org_id(&org)?,
            scopes: Scopes::parse(&scopes)?,
            env: match env {
                EnvArg::Test => EnvKind::Sandbox,
                EnvArg::Live => EnvKind::Live,
            },
            tier: match tier {
                TierArg::Standard => Tier::Standard,
                TierArg::Pilot => Tier::Pilot,
            },
        },
        Admin::Key {
            command: KeyCommand::Revoke { api_key_id: id },
        } => Op::Revoke(api_key_id(&id)?),
        Admin::Key {
            command: KeyCommand::Kill { api_key_id: id },
        } => Op::Kill(api_key_id(&id)?),
        Admin::Key {
            command: KeyCommand::Unkill { api_key_id: id },
        } => Op::Unkill(api_key_id(&id)?),
    })
}

/// Runs an operator command and returns what it prints.
pub async fn admin(command: Admin) -> Result<Value, Failure> {
    let op = parse(command)?;
    let url = database_url()?;
    // An operator command never changes the schema: during a rolling deploy a newer CLI must
    // not migrate under a fleet still running the old binary. It says what to do instead.
    let pending = layers_db::pending_migrations(&url)
        .await
        .map_err(|e| Failure::context("could not reach the database", e))?;
    if !pending.is_empty() {
        return Err(Failure(format!(
            "the database schema is behind this binary ({} migration(s) pending: {}); \
             run `layers-gateway migrate` (or start `layers-gateway serve`) first",
            pending.len(),
            pending.join(", ")
        )));
    }
    let pool = layers_db::pool(&url, 1)?;
    let mut db = pool
        .get()
        .await
        .map_err(|e| Failure::context("could not connect to the database", e))?;
    match op {
        Op::CreateOrg {
            name,
            plan,
            credits,
            monthly_quota,
        } => {
            let tx = db.transaction().await?;
            let org = layers_orgs::create(&tx, &name, plan, monthly_quota).await?;
            if credits > 0 {
                layers_credits::grant(&tx, org.id, credits, "initial grant").await?;
            }
            tx.commit().await?;
            Ok(json!({ "organizationId": org.id.to_string() }))
        }
        Op::SetPlan(org, plan) => Ok(org_json(&layers_orgs::set_plan(&db, org, plan).await?)),
        Op::Grant(org, amount) => {
            let balance = layers_credits::grant(&db, org, amount, "operator grant").await?;
            Ok(json!({ "balance": balance }))
        }
        Op::Mint {
            org,
            env,
            scopes,
            tier,
        } => {
            let minted = store::mint(&db, &SystemRandom::new(), org, env, &scopes, tier).await?;
            Ok(json!({ "apiKeyId": minted.record.id.to_string(), "key": minted.key.expose() }))
        }
        Op::Revoke(id) => Ok(key_json(&store::revoke(&db, id).await?)),
        Op::Kill(id) => Ok(key_json(&store::kill(&db, id).await?)),
        Op::Unkill(id) => Ok(key_json(&store::unkill(&db, id).await?)),
    }
}

/// `layers-gateway migrate`
pub async fn migrate() -> Result<Value, Failure> {
    let applied = layers_db::migrate(&database_url()?)
        .await
        .map_err(|e| Failure::context("could not migrate the database", e))?;
    Ok(json!({ "applied": applied }))
}

/// `layers-gateway worker`: the job workers and webhook deliveries of `serve`, without the HTTP server, so that work
/// can be scaled apart from requests.
pub async fn worker() -> Result<(), Failure> {
    let settings = Settings::from_env()?;
    if settings.job_concurrency == 0 {
        return Err(Failure(
            "LAYERS_JOB_CONCURRENCY is 0: a worker with no concurrency would run nothing".into(),
        ));
    }
    let pending = layers_db::pending_migrations(&settings.database_url)
        .await
        .map_err(|e| Failure::context("could not reach the database", e))?;
    if !pending.is_empty() {
        return Err(Failure(format!(
            "the database schema is behind this binary ({}); run `layers-gateway migrate` first",
            pending.join(", ")
        )));
    }
    let pool = layers_db::pool(&settings.database_url, settings.db_pool_size)?;
    let environments = crate::env::Environments::new(&settings.environments()?)?;
    let workers = crate::app::Workers::spawn(&environments, &pool, &settings)?;
    tracing::info!(
        concurrency = settings.job_concurrency,
        "running job workers and webhook deliveries"
    );
    crate::app::shutdown_signal().await;
    tracing::info!("stopping: letting the attempts in flight finish");
    workers.shutdown(std::time::Duration::from_secs(20)).await;
    tracing::info!("stopped");
    Ok(())
}

/// `layers-gateway serve`
pub async fn serve() -> Result<(), Failure> {
    let settings = Settings::from_env()?;
    let applied = layers_db::migrate(&settings.database_url)
        .await
        .map_err(|e| Failure::context("could not migrate the database", e))?;
    if !applied.is_empty() {
        tracing::info!(?applied, "applied migrations");
    }
    let app = Application::build(settings.clone()).await?;
    tracing::info!(bind = %settings.bind, port = app.port(), "serving the Layers Partner API");
    app.run_until_stopped().await?;
    tracing::info!("stopped");
    Ok(())
}
