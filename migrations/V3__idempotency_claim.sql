-- Claims an idempotency key in one round trip, committing without waiting for the WAL flush:
-- the claim only has to be durable before the side effect it guards, and the side effect's own
-- (synchronous) commit flushes the WAL up to and including the claim.
CREATE FUNCTION layers_idempotency_claim(
    p_api_key_id uuid, p_endpoint text, p_key text, p_hash bytea, p_token uuid,
    p_abandoned_after interval
) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    INSERT INTO idempotency_keys AS k
        (api_key_id, endpoint, idempotency_key, request_hash, claim_token, state)
    VALUES (p_api_key_id, p_endpoint, p_key, p_hash, p_token, 'running')
    ON CONFLICT (api_key_id, endpoint, idempotency_key) DO UPDATE SET
        request_hash = EXCLUDED.request_hash, claim_token = EXCLUDED.claim_token,
        state = 'running', response_status = NULL,
        response_type = NULL, response_body = NULL, created_at = now(),
        expires_at = now() + interval '24 hours'
    WHERE k.expires_at < now()
       OR (k.state = 'running' AND k.created_at < now() - p_abandoned_after);
    RETURN FOUND;
END
$$;
