-- Durable jobs (CONTRACT §7) and the credit audit (CONTRACT §11 "Credits").

CREATE TABLE jobs (
    id                  uuid PRIMARY KEY,
    organization_id     uuid NOT NULL REFERENCES organizations (id),
    project_id          uuid REFERENCES projects (id),
    api_key_id          uuid,
    is_sandbox          boolean NOT NULL,
    kind                text NOT NULL,
    status              text NOT NULL DEFAULT 'queued'
                        CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'canceled')),
    payload             jsonb NOT NULL DEFAULT '{}',
    result              jsonb,
    error               jsonb,
    -- credits charged for this job (live), refunded if it fails or is canceled before it spends
    -- anything outside
    credits_charged     bigint NOT NULL DEFAULT 0,
    spent_outside       boolean NOT NULL DEFAULT false,
    attempts            integer NOT NULL DEFAULT 0,
    max_attempts        integer NOT NULL DEFAULT 5,
    run_at              timestamptz NOT NULL DEFAULT now(),
    -- while running: the worker holds the job until then; a job whose worker died is picked up
    -- again once it has passed
    locked_until        timestamptz,
    cancel_requested    boolean NOT NULL DEFAULT false,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    started_at          timestamptz,
    finished_at         timestamptz
);
-- what workers claim: runnable queued jobs, and running jobs whose lease ran out
CREATE INDEX jobs_runnable ON jobs (run_at) WHERE status = 'queued';
CREATE INDEX jobs_leased ON jobs (locked_until) WHERE status = 'running';
CREATE INDEX jobs_listing ON jobs (organization_id, is_sandbox, id DESC);

-- Workers LISTEN: a new or re-queued job wakes them at once, in the same commit.
CREATE FUNCTION layers_notify_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('layers_jobs', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER jobs_queued AFTER INSERT OR UPDATE OF status, run_at ON jobs
    FOR EACH ROW WHEN (NEW.status = 'queued') EXECUTE FUNCTION layers_notify_jobs();

-- The ledger learns which job and key a movement belongs to.
ALTER TABLE credit_ledger
    ADD COLUMN job_id uuid,
    ADD COLUMN api_key_id uuid,
    ADD COLUMN project_id uuid;

-- Every credit decision, charged or skipped: the sandbox writes only here, the live gate here
-- and in the ledger.
CREATE TABLE credit_audit (
    id                  uuid PRIMARY KEY,
    organization_id     uuid NOT NULL REFERENCES organizations (id),
    action              text NOT NULL
                        CHECK (action IN ('credit.charged', 'credit.refunded', 'credit.granted', 'credit.skipped')),
    cost                bigint NOT NULL CHECK (cost >= 0),
    sandbox             boolean NOT NULL,
    operation           text NOT NULL,
    job_id              uuid,
    project_id          uuid,
    api_key_id          uuid,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX credit_audit_listing ON credit_audit (organization_id, id DESC);
-- the month-to-date sums read one month, not the whole history
CREATE INDEX credit_audit_month ON credit_audit (organization_id, created_at);
CREATE INDEX credit_ledger_listing ON credit_ledger (organization_id, id DESC);
