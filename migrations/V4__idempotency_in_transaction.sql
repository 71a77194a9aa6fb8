-- Idempotency answers are now written in the same transaction as the side effect they answer
-- for: a row exists only once its request has committed, and a request in progress is held by
-- a transaction-scoped advisory lock instead of a 'running' row.
--
-- Expand only: a gateway of the previous release may still be running during a rolling
-- deploy, so nothing it uses is dropped here. New rows carry no claim token and are 'done' from
-- the start; the new code reads only 'done' rows. A later migration drops `claim_token`,
-- `state` and `layers_idempotency_claim` once no previous-release gateway runs.
ALTER TABLE idempotency_keys
    ALTER COLUMN claim_token DROP NOT NULL,
    ALTER COLUMN state SET DEFAULT 'done';
