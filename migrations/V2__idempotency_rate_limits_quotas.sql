-- Idempotency keys, rate-limit buckets, monthly usage, and cache invalidation for key lookups.

-- One row per (key, endpoint, Idempotency-Key): a request in progress, or its stored answer.
CREATE TABLE idempotency_keys (
    api_key_id          uuid NOT NULL,
    -- who holds the key: only that request may store its answer or release it
    claim_token         uuid NOT NULL,
    endpoint            text NOT NULL,
    idempotency_key     text NOT NULL,
    request_hash        bytea NOT NULL,
    state               text NOT NULL CHECK (state IN ('running', 'done')),
    response_status     integer,
    response_type       text,
    response_body       bytea,
    created_at          timestamptz NOT NULL DEFAULT now(),
    expires_at          timestamptz NOT NULL DEFAULT now() + interval '24 hours',
    PRIMARY KEY (api_key_id, endpoint, idempotency_key)
);
CREATE INDEX idempotency_keys_expiry ON idempotency_keys (expires_at);

-- GCRA state per (key, endpoint): the theoretical arrival time, in microseconds since the epoch.
-- UNLOGGED: losing it in a crash only resets bursts.
CREATE UNLOGGED TABLE rate_limit_buckets (
    api_key_id          uuid NOT NULL,
    endpoint            text NOT NULL,
    tat_us              bigint NOT NULL,
    PRIMARY KEY (api_key_id, endpoint)
);

-- Authenticated calls per organization and UTC month.
CREATE TABLE organization_usage (
    organization_id     uuid NOT NULL REFERENCES organizations (id),
    month               date NOT NULL,
    calls               bigint NOT NULL CHECK (calls >= 0),
    PRIMARY KEY (organization_id, month)
);

-- Decides up to p_n requests at once for one (key, endpoint) bucket and its organization:
-- the GCRA admits as many as the bucket allows (emission interval p_interval_us, burst
-- p_burst), and all p_n count toward the organization's calls this UTC month (every
-- authenticated request counts, refused or not). The caller compares each request's count with
-- the ceiling. One call, one round trip, however many requests it decides.
CREATE FUNCTION layers_admit(
    p_api_key_id uuid, p_endpoint text, p_org uuid, p_n integer,
    p_interval_us bigint, p_burst integer
) RETURNS TABLE (now_us bigint, base_us bigint, granted integer, usage_before bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_now bigint := (extract(epoch FROM clock_timestamp()) * 1000000)::bigint;
    v_month date := date_trunc('month', clock_timestamp() AT TIME ZONE 'UTC')::date;
    v_tat bigint;
    v_base bigint;
    v_room bigint;
    v_granted integer;
    v_calls bigint;
BEGIN
    -- Losing the last moments of counters in a crash is acceptable; waiting for a WAL flush on
    -- every request is not.
    PERFORM set_config('synchronous_commit', 'off', true);
    -- Lock the bucket, creating it if needed (the purge may delete it in between: loop).
    LOOP
        SELECT b.tat_us INTO v_tat FROM rate_limit_buckets b
            WHERE b.api_key_id = p_api_key_id AND b.endpoint = p_endpoint FOR UPDATE;
        EXIT WHEN FOUND;
        INSERT INTO rate_limit_buckets (api_key_id, endpoint, tat_us)
            VALUES (p_api_key_id, p_endpoint, v_now) ON CONFLICT DO NOTHING;
    END LOOP;
    v_base := greatest(v_tat, v_now);
    -- a request is admitted while base - now <= (burst - 1) * interval
    v_room := v_now + (p_burst - 1) * p_interval_us - v_base;
    v_granted := CASE WHEN v_room < 0 THEN 0 ELSE least(p_n, v_room / p_interval_us + 1) END;
    IF v_granted > 0 THEN
        UPDATE rate_limit_buckets SET tat_us = v_base + v_granted * p_interval_us
            WHERE api_key_id = p_api_key_id AND endpoint = p_endpoint;
    END IF;
    INSERT INTO organization_usage AS u (organization_id, month, calls)
        VALUES (p_org, v_month, p_n)
        ON CONFLICT (organization_id, month) DO UPDATE SET calls = u.calls + EXCLUDED.calls
        RETURNING u.calls - p_n INTO v_calls;
    RETURN QUERY SELECT v_now, v_base, v_granted, v_calls;
END
$$;

-- Key lookups are cached in each gateway process; these notifications invalidate them.
CREATE FUNCTION layers_notify_key_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('layers_auth', coalesce(NEW.key_id, OLD.key_id));
    RETURN NULL;
END
$$;

CREATE FUNCTION layers_notify_all_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('layers_auth', '*');
    RETURN NULL;
END
$$;

CREATE TRIGGER api_keys_changed AFTER INSERT OR UPDATE OR DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION layers_notify_key_changed();
CREATE TRIGGER organizations_changed AFTER UPDATE OR DELETE ON organizations
    FOR EACH STATEMENT EXECUTE FUNCTION layers_notify_all_changed();
CREATE TRIGGER plans_changed AFTER INSERT OR UPDATE OR DELETE ON plans
    FOR EACH STATEMENT EXECUTE FUNCTION layers_notify_all_changed();
