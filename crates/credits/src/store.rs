//! The wallet (`credit_balances`), its movements (`credit_ledger`) and every credit decision
//! (`credit_audit`): grants, the gate, refunds and the reads (the `store` feature).

use chrono::{DateTime, Utc};
use layers_core::{EnvKind, Environment, Limit, Page};
use layers_db::GenericClient;
use layers_orgs::OrgId;
use thiserror::Error;
use uuid::Uuid;

use crate::Operation;

/// What can go wrong with credits.
#[derive(Debug, Error)]
pub enum Error {
    #[error("a grant must be a positive number of credits")]
    NonPositiveGrant,
    #[error("no such organization")]
    UnknownOrganization,
    /// The wallet holds less than the operation costs; nothing was written.
    #[error("the operation costs {required} credits and the balance is {balance}")]
    BillingExhausted { required: i64, balance: i64 },
    #[error(transparent)]
    Db(#[from] tokio_postgres::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A charge to pass through the gate: who pays, for what, and what it belongs to.
#[derive(Clone, Debug)]
pub struct Charge {
    pub organization_id: OrgId,
    pub operation: Operation,
    /// How many units (content variants); the cost is `operation.cost() * units`.
    pub units: i64,
    pub api_key_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
    pub job_id: Option<Uuid>,
}

impl Charge {
    pub fn cost(&self) -> i64 {
        self.operation.cost() * self.units
    }
}

/// The credit gate of one environment. A closed set of two, so an enum: the caller holds the
/// gate of its environment and never asks which one it is.
#[derive(Clone, Copy, Debug)]
pub enum CreditGate {
    /// Debits the wallet, or refuses.
    Live,
    /// Never touches the wallet; audits what would have been charged.
    Sandbox,
}

impl Environment for CreditGate {
    fn kind(&self) -> EnvKind {
        match self {
            CreditGate::Live => EnvKind::Live,
            CreditGate::Sandbox => EnvKind::Sandbox,
        }
    }
}

impl CreditGate {
    pub fn for_env(env: EnvKind) -> CreditGate {
        match env {
            EnvKind::Live => CreditGate::Live,
            EnvKind::Sandbox => CreditGate::Sandbox,
        }
    }

    /// What [`CreditGate::charge`] takes when it succeeds: the cost live, nothing in the sandbox.
    /// Known before the charge runs, so that what it pays for can be written beside it.
    pub fn amount(&self, charge: &Charge) -> i64 {
        match self {
            CreditGate::Live => charge.cost(),
            CreditGate::Sandbox => 0,
        }
    }

    /// Passes a charge through the gate, in the caller's transaction: live, one statement
    /// debits the wallet and writes one ledger row and one `credit.charged` audit row per unit,
    /// or nothing is written and [`Error::BillingExhausted`] says what was missing; sandbox, one
    /// `credit.skipped` audit row per unit and nothing else, or, while the organization's
    /// sandbox is exhausted ([`set_sandbox_exhausted`]), nothing and the live refusal with
    /// `balance: 0`, in the same one statement. Returns the credits actually charged (0 in the
    /// sandbox).
    pub async fn charge(&self, db: &impl GenericClient, charge: &Charge) -> Result<i64> {
        let cost = charge.cost();
        match self {
            CreditGate::Sandbox => {
                if skipped(db, charge).await? {
                    Ok(0)
                } else {
                    // exhausted by the test helper: the live answer for an empty wallet
                    Err(Error::BillingExhausted {
                        required: cost,
                        balance: 0,
                    })
                }
            }
            CreditGate::Live => {
                let debited = layers_db::cached::query_opt(
                    db,
                    "WITH debit AS ( \
                         UPDATE credit_balances SET balance = balance - $2, updated_at = now() \
                         WHERE organization_id = $1 AND balance >= $2 RETURNING balance), \
                     entry AS ( \
                         INSERT INTO credit_ledger (id, organization_id, delta, balance_after, \
                                                    reason, job_id, api_key_id, project_id) \
                         SELECT $3, $1, -$2, balance, $4, $5, $6, $7 FROM debit), \
                     audit AS ( \
                         INSERT INTO credit_audit (id, organization_id, action, cost, sandbox, \
                                                   operation, job_id, project_id, api_key_id) \
                         SELECT layers_uuid_v7(), $1, 'credit.charged', $8, false, $4, $5, $7, $6 \
                         FROM debit, generate_series(1, $9::bigint)) \
                     SELECT balance FROM debit",
                    &[
                        &charge.organization_id.as_uuid(),
                        &cost,
                        &Uuid::now_v7(),
                        &charge.operation.as_str(),
                        &charge.job_id,
                        &charge.api_key_id,
                        &charge.project_id,
                        &charge.operation.cost(),
                        &charge.units,
                    ],
                )
                .await?;
                match debited {
                    Some(_) => Ok(cost),
                    None => Err(Error::BillingExhausted {
                        required: cost,
                        balance: balance(db, charge.organization_id).await?,
                    }),
                }
            }
        }
    }
}

/// One `credit.skipped` audit row per unit (content variant), each with the unit's cost, in one
/// statement that also reads the organization's test-helper switch
/// ([`set_sandbox_exhausted`]): while it is on, nothing is written and the answer is `false`.
async fn skipped(db: &impl GenericClient, charge: &Charge) -> Result<bool> {
    let row = layers_db::cached::query_one(
        db,
        "WITH exhausted AS ( \
             SELECT 1 FROM sandbox_credit_exhaustion WHERE organization_id = $1), \
         audit AS ( \
             INSERT INTO credit_audit (id, organization_id, action, cost, sandbox, operation, \
                                       job_id, project_id, api_key_id) \
             SELECT layers_uuid_v7(), $1, 'credit.skipped', $2, true, $3, $4, $5, $6 \
             FROM generate_series(1, $7::bigint) \
             WHERE NOT EXISTS (SELECT 1 FROM exhausted)) \
         SELECT NOT EXISTS (SELECT 1 FROM exhausted)",
        &[
            &charge.organization_id.as_uuid(),
            &charge.operation.cost(),
            &charge.operation.as_str(),
            &charge.job_id,
            &charge.project_id,
            &charge.api_key_id,
            &charge.units,
        ],
    )
    .await?;
    Ok(row.get(0))
}

/// Turns the organization's sandbox credit exhaustion on or off (the test helper
/// `credits/exhaust`, CONTRACT §12): while on, every sandbox charge of the organization is
/// [`Error::BillingExhausted`] with `balance: 0` and writes nothing. The live gate, the wallet
/// and the audit are untouched. Answers the switch as it now is.
pub async fn set_sandbox_exhausted(
    db: &impl GenericClient,
    org: OrgId,
    enabled: bool,
) -> Result<bool> {
    if enabled {
        layers_db::cached::execute(
            db,
            "INSERT INTO sandbox_credit_exhaustion (organization_id) \
             SELECT id FROM organization_access WHERE id = $1 \
             ON CONFLICT (organization_id) DO NOTHING",
            &[&org.as_uuid()],
        )
        .await?;
    } else {
        layers_db::cached::execute(
            db,
            "DELETE FROM sandbox_credit_exhaustion WHERE organization_id = $1",
            &[&org.as_uuid()],
        )
        .await?;
    }
    Ok(enabled)
}

/// Gives back `amount` credits a live charge took (a job that failed, or was canceled before it
/// spent anything outside), with a ledger row and a `credit.refunded` audit row.
pub async fn refund(db: &impl GenericClient, charge: &Charge, amount: i64) -> Result<()> {
    if amount <= 0 {
        return Ok(());
    }
    layers_db::cached::execute(
        db,
        "WITH credit AS ( \
             INSERT INTO credit_balances (organization_id, balance) VALUES ($1, $2) \
             ON CONFLICT (organization_id) DO UPDATE \
                 SET balance = credit_balances.balance + EXCLUDED.balance, updated_at = now() \
             RETURNING balance), \
         entry AS ( \
             INSERT INTO credit_ledger (id, organization_id, delta, balance_after, reason, \
                                        job_id, api_key_id, project_id) \
             SELECT $3, $1, $2, balance, 'refund:' || $4, $5, $6, $7 FROM credit) \
         INSERT INTO credit_audit (id, organization_id, action, cost, sandbox, operation, \
                                   job_id, project_id, api_key_id) \
         SELECT $8, $1, 'credit.refunded', $2, false, $4, $5, $7, $6 FROM credit",
        &[
            &charge.organization_id.as_uuid(),
            &amount,
            &Uuid::now_v7(),
            &charge.operation.as_str(),
            &charge.job_id,
            &charge.api_key_id,
            &charge.project_id,
            &Uuid::now_v7(),
        ],
    )
    .await?;
    Ok(())
}

/// Adds `amount` credits to an organization and records the movement (ledger and a
/// `credit.granted` audit row). Returns the new balance.
///
/// Runs as one statement, so the rows and the balance move together. The organization must be
/// in `organization_access`, the view layers-orgs publishes, else [`Error::UnknownOrganization`].
pub async fn grant(db: &impl GenericClient, org: OrgId, amount: i64, reason: &str) -> Result<i64> {
    if amount <= 0 {
        return Err(Error::NonPositiveGrant);
    }
    let row = layers_db::cached::query_opt(
        db,
        "WITH org AS (SELECT id FROM organization_access WHERE id = $1), \
             balance AS ( \
                 INSERT INTO credit_balances (organization_id, balance) \
                 SELECT id, $2 FROM org \
                 ON CONFLICT (organization_id) DO UPDATE \
                     SET balance = credit_balances.balance + EXCLUDED.balance, updated_at = now() \
                 RETURNING balance), \
             entry AS ( \
                 INSERT INTO credit_ledger (id, organization_id, delta, balance_after, reason) \
                 SELECT $3, $1, $2, balance, $4 FROM balance), \
             audit AS ( \
                 INSERT INTO credit_audit (id, organization_id, action, cost, sandbox, operation) \
                 SELECT $5, $1, 'credit.granted', $2, false, $4 FROM balance) \
             SELECT balance FROM balance",
        &[
            &org.as_uuid(),
            &amount,
            &Uuid::now_v7(),
            &reason,
            &Uuid::now_v7(),
        ],
    )
    .await?
    .ok_or(Error::UnknownOrganization)?;
    Ok(row.get(0))
}

/// The current balance (0 for an organization that never had credits); an organization missing
/// from layers-orgs' `organization_access` view is [`Error::UnknownOrganization`].
pub async fn balance(db: &impl GenericClient, org: OrgId) -> Result<i64> {
    let row = layers_db::cached::query_opt(
        db,
        "SELECT coalesce(b.balance, 0) FROM organization_access o \
             LEFT JOIN credit_balances b ON b.organization_id = o.id WHERE o.id = $1",
        &[&org.as_uuid()],
    )
    .await?
    .ok_or(Error::UnknownOrganization)?;
    Ok(row.get(0))
}

/// Credits of the current UTC month: charged (net of refunds) and skipped (sandbox).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MonthToDate {
    pub charged: i64,
    pub skipped: i64,
}

pub async fn month_to_date(db: &impl GenericClient, org: OrgId) -> Result<MonthToDate> {
    let row = layers_db::cached::query_one(
        db,
        "SELECT \
             coalesce(sum(CASE action WHEN 'credit.charged' THEN cost \
                                      WHEN 'credit.refunded' THEN -cost ELSE 0 END), 0)::bigint, \
             coalesce(sum(CASE action WHEN 'credit.skipped' THEN cost ELSE 0 END), 0)::bigint \
         FROM credit_audit \
         WHERE organization_id = $1 \
           AND created_at >= date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'",
        &[&org.as_uuid()],
    )
    .await?;
    Ok(MonthToDate {
        charged: row.get(0),
        skipped: row.get(1),
    })
}

/// A movement of the wallet.
#[derive(Clone, Debug, PartialEq)]
pub struct LedgerEntry {
    pub id: Uuid,
    /// Negative for charges, positive for grants and refunds.
    pub amount: i64,
    pub reason: String,
    pub job_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// The wallet's movements, newest first, after the `after` cursor.
pub async fn ledger(
    db: &impl GenericClient,
    org: OrgId,
    limit: Limit,
    after: Option<Uuid>,
) -> Result<Page<LedgerEntry, Uuid>> {
    let rows = layers_db::cached::query(
        db,
        "SELECT id, delta, reason, job_id, created_at FROM credit_ledger \
         WHERE organization_id = $1 AND ($2::uuid IS NULL OR id < $2) \
         ORDER BY id DESC LIMIT $3",
        &[&org.as_uuid(), &after, &(i64::from(limit.get()) + 1)],
    )
    .await?;
    let items = rows
        .iter()
        .map(|r| LedgerEntry {
            id: r.get(0),
            amount: r.get(1),
            reason: r.get(2),
            job_id: r.get(3),
            created_at: r.get(4),
        })
        .collect();
    Ok(Page::from_overfetch(items, limit, |e: &LedgerEntry| e.id))
}

/// A credit decision.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEntry {
    pub id: Uuid,
    /// `credit.charged`, `credit.refunded`, `credit.granted` or `credit.skipped`.
    pub action: String,
    /// Always positive.
    pub cost: i64,
    pub sandbox: bool,
    pub operation: String,
    pub job_id: Option<Uuid>,
    pub project_id: Option<Uuid>,
    pub api_key_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// Credit decisions, newest first; `sandbox` narrows to one environment's.
pub async fn audit(
    db: &impl GenericClient,
    org: OrgId,
    sandbox: Option<bool>,
    limit: Limit,
    after: Option<Uuid>,
) -> Result<Page<AuditEntry, Uuid>> {
    let rows = layers_db::cached::query(
        db,
        "SELECT id, action, cost, sandbox, operation, job_id, project_id, api_key_id, created_at \
         FROM credit_audit \
         WHERE organization_id = $1 AND ($2::uuid IS NULL OR id < $2) \
           AND ($4::boolean IS NULL OR sandbox = $4) \
         ORDER BY id DESC LIMIT $3",
        &[
            &org.as_uuid(),
            &after,
            &(i64::from(limit.get()) + 1),
            &sandbox,
        ],
    )
    .await?;
    let items = rows
        .iter()
        .map(|r| AuditEntry {
            id: r.get(0),
            action: r.get(1),
            cost: r.get(2),
            sandbox: r.get(3),
            operation: r.get(4),
            job_id: r.get(5),
            project_id: r.get(6),
            api_key_id: r.get(7),
            created_at: r.get(8),
        })
        .collect();
    Ok(Page::from_overfetch(items, limit, |e: &AuditEntry| e.id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use layers_db::testing::fresh_database;
    use layers_orgs::Plan;

    fn charge(org: OrgId, operation: Operation) -> Charge {
        Charge {
            organization_id: org,
            operation,
            units: 1,
            api_key_id: Some(Uuid::new_v4()),
            project_id: None,
            job_id: Some(Uuid::now_v7()),
        }
    }

    async fn count(c: &layers_db::Client, sql: &str) -> i64 {
        c.query_one(sql, &[]).await.unwrap().get(0)
    }

    #[tokio::test]
    async fn grants_accumulate_and_are_recorded() {
        let db = fresh_database().await;
        let c = db.pool.get().await.unwrap();
        let org = layers_orgs::create(&c, "Acme", Plan::Partner, None)
            .await
            .unwrap();
        assert_eq!(balance(&c, org.id).await.unwrap(), 0);
        assert_eq!(grant(&c, org.id, 1000, "seed").await.unwrap(), 1000);
        assert_eq!(grant(&c, org.id, 5, "top-up").await.unwrap(), 1005);
        assert_eq!(balance(&c, org.id).await.unwrap(), 1005);
        let entries: Vec<i64> = ledger(&c, org.id, Limit::default(), None)
            .await
            .unwrap()
            .items
            .iter()
            .map(|e| e.amount)
            .collect();
        assert_eq!(entries, vec![5, 1000]);
        let audited = audit(&c, org.id, Some(false), Limit::default(), None)
            .await
            .unwrap();
        assert!(audited.items.iter().all(|a| a.action == "credit.granted"));
    }

    #[tokio::test]
    async fn refuses_bad_grants_without_writing() {
        let db = fresh_database().await;
        let c = db.pool.get().await.unwrap();
        let org = layers_orgs::create(&c, "Acme", Plan::Partner, None)
            .await
            .unwrap();
        assert!(matches!(
            grant(&c, org.id, 0, "x").await,
            Err(Error::NonPositiveGrant)
        ));
        assert!(matches!(
            grant(&c, org.id, -3, "x").await,
            Err(Error::NonPositiveGrant)
        ));
        assert!(matches!(
            grant(&c, OrgId::new(), 3, "x").await,
            Err(Error::UnknownOrganization)
        ));
        assert_eq!(count(&c, "SELECT count(*) FROM credit_ledger").await, 0);
    }

    #[tokio::test]
    async fn the_live_gate_charges_or_refuses_and_the_sandbox_gate_only_audits() {
        let db = fresh_database().await;
        let c = db.pool.get().await.unwrap();
        let org = layers_orgs::create(&c, "Acme", Plan::Partner, None)
            .await
            .unwrap()
            .id;
        grant(&c, org, 12, "seed").await.unwrap();

        let github = charge(org, Operation::IngestGithub);
        assert_eq!(CreditGate::Live.charge(&c, &github).await.unwrap(), 10);
        assert_eq!(balance(&c, org).await.unwrap(), 2);
        // too little left: refused with what was missing, nothing written
        let before = count(&c, "SELECT count(*) FROM credit_ledger").await;
        match CreditGate::Live.charge(&c, &github).await {
            Err(Error::BillingExhausted { required, balance }) => {
                assert_eq!((required, balance), (10, 2))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            count(&c, "SELECT count(*) FROM credit_ledger").await,
            before
        );

        // the sandbox never touches the wallet, whatever the balance
        for _ in 0..5 {
            assert_eq!(CreditGate::Sandbox.charge(&c, &github).await.unwrap(), 0);
        }
        assert_eq!(balance(&c, org).await.unwrap(), 2);
        let mtd = month_to_date(&c, org).await.unwrap();
        assert_eq!(
            mtd,
            MonthToDate {
                charged: 10,
                skipped: 50
            }
        );

        // a refund gives the charge back, and the month's net charge with it
        refund(&c, &github, 10).await.unwrap();
        assert_eq!(balance(&c, org).await.unwrap(), 12);
        assert_eq!(month_to_date(&c, org).await.unwrap().charged, 0);
        let skipped = audit(&c, org, Some(true), Limit::default(), None)
            .await
            .unwrap();
        assert_eq!(skipped.items.len(), 5);
        assert!(skipped
            .items
            .iter()
            .all(|a| a.action == "credit.skipped" && a.cost == 10 && a.sandbox));
    }
}
