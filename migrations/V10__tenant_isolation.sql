-- Tenant isolation (issue 17): stored idempotent answers sealed at rest, credits a job keeps
-- when part of its work was delivered, upload sessions that count and expire.

-- An answer can carry a secret (a webhook secret, an OAuth state, a signed upload URL): the
-- gateway seals every stored answer under LAYERS_MASTER_KEY, bound to its key's scope. Rows
-- written before (or by a process without a master key) stay readable as they are.
ALTER TABLE idempotency_keys ADD COLUMN response_sealed boolean NOT NULL DEFAULT false;

-- A job's credits that stay charged because that part of its work was delivered (a completed
-- variant of a generation): a failure refunds only the rest.
ALTER TABLE jobs ADD COLUMN credits_kept bigint NOT NULL DEFAULT 0
    CHECK (credits_kept >= 0 AND credits_kept <= credits_charged);
