-- Social accounts (CONTRACT §11 "Social accounts"): OAuth states and the accounts they connect.

CREATE TABLE oauth_states (
    -- SHA-256 of the state token: the token itself is only ever in the partner's URL
    state_hash          bytea PRIMARY KEY,
    organization_id     uuid NOT NULL REFERENCES organizations (id),
    project_id          uuid NOT NULL REFERENCES projects (id),
    api_key_id          uuid NOT NULL,
    is_sandbox          boolean NOT NULL,
    platform            text NOT NULL CHECK (platform IN ('instagram', 'tiktok', 'youtube')),
    redirect_uri        text,
    -- the PKCE verifier, sealed under the master key (live); sandbox states keep one too
    code_verifier       text NOT NULL,
    expires_at          timestamptz NOT NULL,
    -- set once completed: the account it connected
    social_account_id   uuid,
    created_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE social_accounts (
    id                  uuid PRIMARY KEY,
    organization_id     uuid NOT NULL REFERENCES organizations (id),
    project_id          uuid NOT NULL REFERENCES projects (id),
    is_sandbox          boolean NOT NULL,
    platform            text NOT NULL CHECK (platform IN ('instagram', 'tiktok', 'youtube')),
    platform_user_id    text NOT NULL,
    handle              text NOT NULL,
    status              text NOT NULL DEFAULT 'active'
                        CHECK (status IN ('active', 'needs_reauth', 'disconnected')),
    -- the platform token, sealed (live); the literal sentinel `sandbox_token` in the sandbox
    token               bytea NOT NULL,
    connected_at        timestamptz NOT NULL DEFAULT now(),
    disconnected_at     timestamptz,
    UNIQUE (project_id, platform, platform_user_id)
);
CREATE INDEX social_accounts_listing ON social_accounts (project_id, id DESC);
