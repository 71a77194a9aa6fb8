-- Idempotency answers are now written in the same transaction as the side effect they answer
-- for: a row exists only once its request has committed, and a request in progress is held by
-- a transaction-scoped advisory lock instead of a 'running' row. Claims, claim tokens and the
-- takeover of abandoned claims go away with the rows that needed them.
DELETE FROM idempotency_keys WHERE state <> 'done';
DROP FUNCTION layers_idempotency_claim(uuid, text, text, bytea, uuid, interval);
ALTER TABLE idempotency_keys
    DROP COLUMN claim_token,
    DROP COLUMN state,
    ALTER COLUMN response_status SET NOT NULL,
    ALTER COLUMN response_body SET NOT NULL;
