-- Organizations, plans, API keys, the credit ledger, projects and influencers.

CREATE TABLE plans (
    code        text PRIMARY KEY,
    features    text[] NOT NULL
);
INSERT INTO plans (code, features) VALUES
    ('partner', ARRAY['api_access']),
    ('free',    ARRAY[]::text[]);

CREATE TABLE organizations (
    id              uuid PRIMARY KEY,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    plan            text NOT NULL REFERENCES plans (code),
    monthly_quota   bigint CHECK (monthly_quota >= 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id                  uuid PRIMARY KEY,
    key_id              text NOT NULL UNIQUE CHECK (key_id ~ '^[A-Z0-9]{16}$'),
    organization_id     uuid NOT NULL REFERENCES organizations (id),
    environment         text NOT NULL CHECK (environment IN ('live', 'test')),
    secret_hash         bytea NOT NULL,
    scopes              text[] NOT NULL,
    tier                text NOT NULL CHECK (tier IN ('standard', 'pilot')),
    created_at          timestamptz NOT NULL DEFAULT now(),
    revoked_at          timestamptz,
    killed_at           timestamptz
);
CREATE INDEX api_keys_organization ON api_keys (organization_id);

CREATE TABLE credit_balances (
    organization_id     uuid PRIMARY KEY REFERENCES organizations (id),
    balance             bigint NOT NULL CHECK (balance >= 0),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE credit_ledger (
    id                  uuid PRIMARY KEY,
    organization_id     uuid NOT NULL REFERENCES organizations (id),
    delta               bigint NOT NULL,
    balance_after       bigint NOT NULL,
    reason              text NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX credit_ledger_organization ON credit_ledger (organization_id, created_at);

CREATE TABLE projects (
    id                      uuid PRIMARY KEY,
    organization_id         uuid NOT NULL REFERENCES organizations (id),
    name                    text NOT NULL,
    customer_external_id    text,
    timezone                text NOT NULL,
    primary_language        text NOT NULL,
    is_sandbox              boolean NOT NULL,
    archived_at             timestamptz,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now()
);
-- A customerExternalId names one project per organization and environment.
CREATE UNIQUE INDEX projects_customer_external_id
    ON projects (organization_id, is_sandbox, customer_external_id)
    WHERE customer_external_id IS NOT NULL;
CREATE INDEX projects_listing ON projects (organization_id, id DESC);

CREATE TABLE influencers (
    id                  uuid PRIMARY KEY,
    project_id          uuid NOT NULL REFERENCES projects (id),
    organization_id     uuid NOT NULL REFERENCES organizations (id),
    name                text NOT NULL,
    description         text,
    is_sandbox          boolean NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX influencers_listing ON influencers (project_id, id DESC);
