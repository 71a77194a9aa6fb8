-- Webhooks (CONTRACT §10): endpoints with sealed secrets, the event outbox, deliveries and their
-- attempts.

CREATE TABLE webhook_endpoints (
    id                      uuid PRIMARY KEY,
    organization_id         uuid NOT NULL REFERENCES organizations (id),
    -- the environment of the key that created it: it receives that environment's events only
    is_sandbox              boolean NOT NULL,
    url                     text NOT NULL,
    -- event type names; '{*}' for all
    events                  text[] NOT NULL,
    description             text,
    disabled                boolean NOT NULL DEFAULT false,
    -- AES-256-GCM under LAYERS_MASTER_KEY (nonce || ciphertext || tag), bound to the row's id:
    -- no secret is stored in clear
    secret_sealed           bytea NOT NULL,
    -- the secret before the last rotation, still signing until previous_secret_until
    previous_secret_sealed  bytea,
    previous_secret_until   timestamptz,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_listing ON webhook_endpoints (organization_id, is_sandbox, id DESC);

-- A UUID version 7 (48 bits of milliseconds, then random bits), so that rows made in SQL sort
-- by creation time like the ones the services make.
CREATE FUNCTION layers_uuid_v7() RETURNS uuid LANGUAGE sql VOLATILE AS $$
    SELECT encode(
        set_bit(set_bit(
            overlay(uuid_send(gen_random_uuid())
                    PLACING substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
                    FROM 1 FOR 6),
            52, 1), 53, 1),
        'hex')::uuid
$$;

-- The outbox: an event is written in the transaction of the change that caused it, with one
-- delivery per subscribed endpoint.
CREATE TABLE events (
    -- the ULID of evt_…, whose byte order is its time order
    id                      uuid PRIMARY KEY,
    organization_id         uuid NOT NULL REFERENCES organizations (id),
    is_sandbox              boolean NOT NULL,
    type                    text NOT NULL,
    -- the envelope exactly as delivered and signed
    body                    bytea NOT NULL,
    created_at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_listing ON events (organization_id, is_sandbox, id DESC);
CREATE INDEX events_listing_by_type ON events (organization_id, is_sandbox, type, id DESC);

CREATE TABLE webhook_deliveries (
    id                      uuid PRIMARY KEY,
    endpoint_id             uuid NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id                uuid NOT NULL REFERENCES events (id),
    status                  text NOT NULL DEFAULT 'pending'
                            CHECK (status IN ('pending', 'succeeded', 'failed')),
    -- attempts made (or begun) so far; an attempt records its outcome only while this still
    -- counts it, so a worker whose lease passed cannot overwrite a newer attempt
    attempt_count           integer NOT NULL DEFAULT 0,
    -- set by a redelivery of a finished delivery: the attempt after which it ends again,
    -- whatever the retry schedule says (otherwise it ends after the schedule's last attempt)
    last_attempt            integer,
    -- while pending: when the next attempt is due. A worker that takes the delivery moves it to
    -- the end of its lease, so a delivery whose worker died is due again then.
    next_attempt_at         timestamptz,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_listing ON webhook_deliveries (endpoint_id, id DESC);
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);

CREATE TABLE webhook_attempts (
    delivery_id             uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt                 integer NOT NULL,
    attempted_at            timestamptz NOT NULL,
    status_code             integer,
    duration_ms             integer NOT NULL,
    error                   text,
    -- the first 1 KiB of the receiver's answer
    response_excerpt        text,
    PRIMARY KEY (delivery_id, attempt)
);

-- Delivery workers LISTEN: a delivery that is due now wakes them in the commit that makes it so.
CREATE FUNCTION layers_notify_webhooks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('layers_webhooks', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER webhook_deliveries_due AFTER INSERT OR UPDATE OF next_attempt_at ON webhook_deliveries
    FOR EACH ROW WHEN (NEW.status = 'pending' AND NEW.next_attempt_at <= now())
    EXECUTE FUNCTION layers_notify_webhooks();
