//! Jobs against a fresh database, with real workers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use layers_core::{EnvKind, Limit};
use layers_credits::{Charge, CreditGate, Operation};
use layers_db::testing::{fresh_database, TestDatabase};
use layers_orgs::{OrgId, Plan};
use serde_json::json;

use super::*;

/// Succeeds, fails or waits, as its job's payload says; counts attempts.
#[derive(Default)]
struct Scripted {
    attempts: AtomicUsize,
}

impl Handler for Scripted {
    fn run<'a>(&'a self, job: &'a Job, control: &'a Control) -> HandlerFuture<'a> {
        Box::pin(async move {
            let n = self.attempts.fetch_add(1, Ordering::SeqCst) + 1;
            match job.payload["do"].as_str().unwrap_or("") {
                "succeed" => Ok(json!({ "attempt": n })),
                "flaky" if n < 3 => Err(Failure::Transient(format!("attempt {n} timed out"))),
                "flaky" => Ok(json!({ "attempt": n })),
                "broken" => Err(Failure::Permanent("the store said 404".into())),
                "spend then wait" | "wait" => {
                    if job.payload["do"] == "spend then wait" {
                        control.spending_outside().await?;
                    }
                    for _ in 0..500 {
                        if control.cancel_requested().await {
                            return Err(Failure::Canceled);
                        }
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    Ok(json!({}))
                }
                "spend then fail" => {
                    control.spending_outside().await?;
                    Err(Failure::Transient("the store answered 502".into()))
                }
                "slow" => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    Ok(json!({ "slow": true }))
                }
                // an outside call that is in flight when the cancel comes, and then answers
                "spend then slow" => {
                    control.spending_outside().await?;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    Ok(json!({ "slow": true }))
                }
                "hang" => {
                    std::future::pending::<()>().await;
                    Ok(json!({}))
                }
                other => Err(Failure::Permanent(format!("unknown script {other}"))),
            }
        })
    }
}

struct Fixture {
    db: TestDatabase,
    org: OrgId,
    handler: Arc<Scripted>,
    worker: Option<WorkerHandle>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(worker) = &self.worker {
            worker.abort();
        }
    }
}

async fn fixture(credits: i64) -> Fixture {
    fixture_with(credits, Duration::from_millis(20)).await
}

async fn fixture_with(credits: i64, retry_base: Duration) -> Fixture {
    let db = fresh_database().await;
    let c = db.pool.get().await.unwrap();
    let org = layers_orgs::create(&c, "Acme", Plan::Partner, None)
        .await
        .unwrap()
        .id;
    if credits > 0 {
        layers_credits::grant(&c, org, credits, "seed")
            .await
            .unwrap();
    }
    let handler = Arc::new(Scripted::default());
    let config = WorkerConfig {
        concurrency: 4,
        lease: Duration::from_millis(600),
        poll: Duration::from_millis(100),
        retry_base,
        attempt_timeout: Duration::from_millis(300),
    };
    let worker = Worker::new(db.pool.clone(), db.url.clone(), config)
        .handle("scripted", handler.clone())
        .spawn();
    Fixture {
        db,
        org,
        handler,
        worker,
    }
}

impl Fixture {
    /// Charges (live) and queues a job in one transaction, as a route does.
    async fn queue(&self, env: EnvKind, script: &str) -> JobId {
        let mut c = self.db.pool.get().await.unwrap();
        let tx = c.transaction().await.unwrap();
        let id = JobId::new();
        let charged = CreditGate::for_env(env)
            .charge(
                &tx,
                &Charge {
                    organization_id: self.org,
                    operation: Operation::IngestGithub,
                    units: 1,
                    api_key_id: None,
                    project_id: None,
                    job_id: Some(id.as_uuid()),
                },
            )
            .await
            .unwrap();
        enqueue(
            &tx,
            &NewJob {
                id,
                organization_id: self.org,
                project_id: None,
                api_key_id: None,
                env,
                kind: "scripted",
                payload: json!({ "do": script }),
                credits_charged: charged,
                operation: Some(Operation::IngestGithub.as_str()),
            },
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        id
    }

    async fn job(&self, env: EnvKind, id: JobId) -> Job {
        get(&self.db.pool.get().await.unwrap(), self.org, env, id)
            .await
            .unwrap()
    }

    async fn until(&self, env: EnvKind, id: JobId, status: JobStatus) -> (Job, Duration) {
        let started = Instant::now();
        loop {
            let job = self.job(env, id).await;
            if job.status == status {
                return (job, started.elapsed());
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "job still {:?}, wanted {status:?}: {job:?}",
                job.status
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn balance(&self) -> i64 {
        layers_credits::balance(&self.db.pool.get().await.unwrap(), self.org)
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn a_queued_job_runs_at_once_and_keeps_its_result() {
    let f = fixture(100).await;
    // let the listener connect, so the wake-up (not the poll) is what is measured
    tokio::time::sleep(Duration::from_millis(200)).await;
    let id = f.queue(EnvKind::Sandbox, "succeed").await;
    let (job, waited) = f.until(EnvKind::Sandbox, id, JobStatus::Succeeded).await;
    assert!(waited < Duration::from_millis(100), "took {waited:?}");
    assert_eq!(job.result, Some(json!({ "attempt": 1 })));
    assert_eq!(job.attempts, 1);
    assert!(job.started_at.is_some() && job.finished_at.is_some());
    // the sandbox never touched the wallet
    assert_eq!(f.balance().await, 100);
}

#[tokio::test]
async fn transient_failures_are_retried_and_permanent_ones_fail_and_refund() {
    let f = fixture(100).await;
    let flaky = f.queue(EnvKind::Live, "flaky").await;
    let (job, _) = f.until(EnvKind::Live, flaky, JobStatus::Succeeded).await;
    assert_eq!(job.attempts, 3);
    assert_eq!(f.balance().await, 90, "a success keeps its charge");

    let broken = f.queue(EnvKind::Live, "broken").await;
    let (job, _) = f.until(EnvKind::Live, broken, JobStatus::Failed).await;
    assert_eq!(
        job.error,
        Some(json!({ "code": "job_failed", "message": "the store said 404" }))
    );
    assert_eq!(job.attempts, 1, "a permanent failure is not retried");
    assert_eq!(f.balance().await, 90, "the failed job was refunded");
}

#[tokio::test]
async fn cancel_while_queued_refunds_and_the_other_environment_cannot_cancel() {
    let f = fixture(100).await;
    let c = f.db.pool.get().await.unwrap();
    // a job nobody runs (no handler for its kind is asked before it is canceled): stop the
    // worker first so that it stays queued
    f.worker.as_ref().unwrap().abort();
    let queued = f.queue(EnvKind::Live, "succeed").await;
    assert_eq!(f.balance().await, 90);
    let (job, how) = cancel(&c, f.org, EnvKind::Live, queued).await.unwrap();
    assert_eq!((job.status, how), (JobStatus::Canceled, Canceled::Now));
    assert_eq!(f.balance().await, 100, "canceled while queued: refunded");
    assert!(matches!(
        cancel(&c, f.org, EnvKind::Live, queued).await,
        Err(Error::AlreadyTerminal)
    ));
    // the other environment's key cannot act on it, nor read it
    assert!(matches!(
        cancel(&c, f.org, EnvKind::Sandbox, queued).await,
        Err(Error::EnvironmentMismatch(EnvKind::Live))
    ));
    assert!(matches!(
        get(&c, f.org, EnvKind::Sandbox, queued).await,
        Err(Error::InOtherEnvironment(EnvKind::Live))
    ));
}

#[tokio::test]
async fn a_running_job_stops_at_its_next_safe_point() {
    let f = fixture(100).await;
    let c = f.db.pool.get().await.unwrap();
    // cancelled before it spent anything outside: refunded
    let waiting = f.queue(EnvKind::Live, "wait").await;
    f.until(EnvKind::Live, waiting, JobStatus::Running).await;
    let (_, how) = cancel(&c, f.org, EnvKind::Live, waiting).await.unwrap();
    assert_eq!(how, Canceled::Requested);
    f.until(EnvKind::Live, waiting, JobStatus::Canceled).await;
    assert_eq!(f.balance().await, 100);

    // cancelled after it spent outside: canceled, not refunded
    let spending = f.queue(EnvKind::Live, "spend then wait").await;
    f.until(EnvKind::Live, spending, JobStatus::Running).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    cancel(&c, f.org, EnvKind::Live, spending).await.unwrap();
    f.until(EnvKind::Live, spending, JobStatus::Canceled).await;
    assert_eq!(f.balance().await, 90);
}

#[tokio::test]
async fn a_cancel_answered_202_ends_the_job_canceled_even_when_its_work_finishes() {
    let f = fixture(100).await;
    let c = f.db.pool.get().await.unwrap();
    // the sandbox: no safe point is reached before the work is done
    let sandbox = f.queue(EnvKind::Sandbox, "slow").await;
    f.until(EnvKind::Sandbox, sandbox, JobStatus::Running).await;
    let (_, how) = cancel(&c, f.org, EnvKind::Sandbox, sandbox).await.unwrap();
    assert_eq!(how, Canceled::Requested);
    let (ended, _) = f
        .until(EnvKind::Sandbox, sandbox, JobStatus::Canceled)
        .await;
    assert_eq!(ended.result, None);

    // live: the outside call was in flight when the cancel came; it answered, the job ends
    // canceled and, having spent outside, is not refunded
    let live = f.queue(EnvKind::Live, "spend then slow").await;
    f.until(EnvKind::Live, live, JobStatus::Running).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (_, how) = cancel(&c, f.org, EnvKind::Live, live).await.unwrap();
    assert_eq!(how, Canceled::Requested);
    f.until(EnvKind::Live, live, JobStatus::Canceled).await;
    assert_eq!(f.balance().await, 90);
    let events: i64 = c
        .query_one(
            "SELECT count(*) FROM events WHERE type = 'job.canceled'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(events, 2);
}

#[tokio::test]
async fn a_job_whose_worker_died_runs_again_after_its_lease() {
    let f = fixture(0).await;
    let c = f.db.pool.get().await.unwrap();
    let id = f.queue(EnvKind::Sandbox, "succeed").await;
    f.until(EnvKind::Sandbox, id, JobStatus::Succeeded).await;
    // as if a worker had claimed it and died: running, with its lease passed
    c.execute(
        "UPDATE jobs SET status = 'running', result = NULL, finished_at = NULL, \
         locked_until = now() - interval '1 second' WHERE id = $1",
        &[&id.as_uuid()],
    )
    .await
    .unwrap();
    let (job, _) = f.until(EnvKind::Sandbox, id, JobStatus::Succeeded).await;
    assert_eq!(job.attempts, 2);
    assert_eq!(f.handler.attempts.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn lists_are_per_environment_and_filtered() {
    let f = fixture(100).await;
    let c = f.db.pool.get().await.unwrap();
    let live = f.queue(EnvKind::Live, "succeed").await;
    let sandbox = f.queue(EnvKind::Sandbox, "broken").await;
    f.until(EnvKind::Sandbox, sandbox, JobStatus::Failed).await;
    let ids = |env, filter: Filter| {
        let c = &c;
        let org = f.org;
        async move {
            list(c, org, env, &filter, Limit::default(), None)
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|j| j.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(ids(EnvKind::Live, Filter::default()).await, vec![live]);
    assert_eq!(
        ids(EnvKind::Sandbox, Filter::default()).await,
        vec![sandbox]
    );
    let failed = Filter {
        status: Some(JobStatus::Failed),
        ..Filter::default()
    };
    assert_eq!(ids(EnvKind::Sandbox, failed.clone()).await, vec![sandbox]);
    assert!(ids(EnvKind::Live, failed).await.is_empty());
    let other_kind = Filter {
        kind: Some("other".into()),
        ..Filter::default()
    };
    assert!(ids(EnvKind::Sandbox, other_kind).await.is_empty());
}

#[tokio::test]
async fn an_attempt_that_never_returns_is_stopped_and_retried_until_the_job_fails() {
    let f = fixture(100).await;
    let id = f.queue(EnvKind::Live, "hang").await;
    let (job, _) = f.until(EnvKind::Live, id, JobStatus::Failed).await;
    assert_eq!(job.attempts, job.max_attempts);
    let message = job.error.unwrap()["message"].as_str().unwrap().to_owned();
    assert!(message.contains("ran longer"), "{message}");
    assert_eq!(f.balance().await, 100, "refunded");
}

#[tokio::test]
async fn a_worker_that_lost_its_job_cannot_record_over_the_new_holder() {
    let f = fixture(0).await;
    let c = f.db.pool.get().await.unwrap();
    let id = f.queue(EnvKind::Sandbox, "slow").await;
    f.until(EnvKind::Sandbox, id, JobStatus::Running).await;
    // another worker claims it meanwhile (its lease passed): a new attempt, a long lease
    c.execute(
        "UPDATE jobs SET attempts = attempts + 1, locked_until = now() + interval '1 hour' \
         WHERE id = $1",
        &[&id.as_uuid()],
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let job = f.job(EnvKind::Sandbox, id).await;
    assert_eq!(
        job.status,
        JobStatus::Running,
        "the first worker's success was fenced off"
    );
    assert_eq!(job.result, None);
}

#[tokio::test]
async fn a_job_that_called_out_is_not_refunded_when_canceled_while_waiting_for_its_retry() {
    let f = fixture_with(100, Duration::from_secs(30)).await;
    let c = f.db.pool.get().await.unwrap();
    let id = f.queue(EnvKind::Live, "spend then fail").await;
    // back in the queue, its retry half a minute away, after it spent outside
    let started = Instant::now();
    while f.job(EnvKind::Live, id).await.attempts < 1
        || f.job(EnvKind::Live, id).await.status != JobStatus::Queued
    {
        assert!(started.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (job, how) = cancel(&c, f.org, EnvKind::Live, id).await.unwrap();
    assert_eq!((job.status, how), (JobStatus::Canceled, Canceled::Now));
    assert_eq!(f.balance().await, 90, "it called out: no refund");
}

#[tokio::test]
async fn shutdown_lets_the_attempt_in_flight_finish_and_claims_nothing_more() {
    let mut f = fixture(0).await;
    let slow = f.queue(EnvKind::Sandbox, "slow").await;
    f.until(EnvKind::Sandbox, slow, JobStatus::Running).await;
    let worker = f.worker.take().unwrap();
    let stopping = tokio::spawn(worker.shutdown(Duration::from_secs(5)));
    tokio::time::sleep(Duration::from_millis(20)).await;
    let later = f.queue(EnvKind::Sandbox, "succeed").await;
    stopping.await.unwrap();
    assert_eq!(
        f.job(EnvKind::Sandbox, slow).await.status,
        JobStatus::Succeeded
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        f.job(EnvKind::Sandbox, later).await.status,
        JobStatus::Queued
    );
}

/// The events of the jobs that ended: `(type, data.id, data.status, sandbox)`, oldest first.
async fn job_events(f: &Fixture) -> Vec<(String, String, String, bool)> {
    let c = f.db.pool.get().await.unwrap();
    c.query("SELECT type, body FROM events ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| {
            let envelope: serde_json::Value = serde_json::from_slice(row.get(1)).unwrap();
            (
                row.get::<_, String>(0),
                envelope["data"]["id"].as_str().unwrap().to_owned(),
                envelope["data"]["status"].as_str().unwrap().to_owned(),
                envelope["meta"]["sandbox"] == true,
            )
        })
        .collect()
}

#[tokio::test]
async fn every_ending_writes_its_event_once_with_the_job_as_data() {
    let f = fixture(100).await;
    let succeeded = f.queue(EnvKind::Sandbox, "succeed").await;
    f.until(EnvKind::Sandbox, succeeded, JobStatus::Succeeded)
        .await;
    let flaky = f.queue(EnvKind::Live, "flaky").await;
    f.until(EnvKind::Live, flaky, JobStatus::Succeeded).await;
    let broken = f.queue(EnvKind::Live, "broken").await;
    let (failed, _) = f.until(EnvKind::Live, broken, JobStatus::Failed).await;
    f.worker.as_ref().unwrap().abort();
    let queued = f.queue(EnvKind::Sandbox, "succeed").await;
    let c = f.db.pool.get().await.unwrap();
    cancel(&c, f.org, EnvKind::Sandbox, queued).await.unwrap();

    let events = job_events(&f).await;
    let expect = |t: &str, id: JobId, status: &str, sandbox: bool| {
        (t.to_owned(), id.to_string(), status.to_owned(), sandbox)
    };
    // the retries of the flaky job wrote nothing: only endings do
    assert_eq!(
        events,
        vec![
            expect("job.succeeded", succeeded, "succeeded", true),
            expect("job.succeeded", flaky, "succeeded", false),
            expect("job.failed", broken, "failed", false),
            expect("job.canceled", queued, "canceled", true),
        ]
    );
    // the data is the job object as partners read it
    let body: Vec<u8> = c
        .query_one("SELECT body FROM events WHERE type = 'job.failed'", &[])
        .await
        .unwrap()
        .get(0);
    let envelope: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        envelope["data"],
        serde_json::to_value(JobObject::from(&failed)).unwrap()
    );
    assert_eq!(
        envelope["data"]["error"],
        json!({ "code": "job_failed", "message": "the store said 404" })
    );
}

#[tokio::test]
async fn an_event_is_not_written_when_the_ending_rolls_back() {
    let f = fixture(100).await;
    f.worker.as_ref().unwrap().abort();
    let queued = f.queue(EnvKind::Live, "succeed").await;
    let mut c = f.db.pool.get().await.unwrap();
    let tx = c.transaction().await.unwrap();
    cancel(&tx, f.org, EnvKind::Live, queued).await.unwrap();
    tx.rollback().await.unwrap();
    assert!(job_events(&f).await.is_empty());
    assert_eq!(f.job(EnvKind::Live, queued).await.status, JobStatus::Queued);
}

#[test]
fn results_are_bounded_per_field_per_list_and_in_all() {
    let big = "é".repeat(1_000_000);
    let capped = worker::bounded(json!({ "facts": { "name": big, "title": big, "n": 3 } }));
    let name = capped["facts"]["name"].as_str().unwrap();
    assert!(
        name.len() <= worker::MAX_FIELD_BYTES + '…'.len_utf8(),
        "{}",
        name.len()
    );
    assert!(name.ends_with('…'));
    assert_eq!(capped["facts"]["n"], 3);
    let long_list = worker::bounded(json!({ "topics": vec![1; 10_000] }));
    assert_eq!(
        long_list["topics"].as_array().unwrap().len(),
        worker::MAX_LIST_ITEMS
    );
    let many = worker::bounded(json!({ "parts": vec!["x".repeat(4_000); 90] }));
    assert_eq!(many["truncated"], true);
    let small = json!({ "source": "website", "facts": { "name": "Acme" } });
    assert_eq!(worker::bounded(small.clone()), small);
}
