-- Ads (CONTRACT §13): ad accounts linked to a project, campaigns created on the platforms (or
-- in the sandbox, in the request), the days a campaign was paused, and live ad metrics.
-- Owned by layers-ads; social accounts learn the ads consent and the TikTok for Business
-- platform (layers-social).

-- an account connected with `oauth-url {ads: true}` (Instagram: ads_management, ads_read)
ALTER TABLE oauth_states ADD COLUMN ads boolean NOT NULL DEFAULT false;
ALTER TABLE social_accounts ADD COLUMN ads boolean NOT NULL DEFAULT false;
ALTER TABLE oauth_states DROP CONSTRAINT oauth_states_platform_check;
ALTER TABLE oauth_states ADD CONSTRAINT oauth_states_platform_check
    CHECK (platform IN ('instagram', 'tiktok', 'youtube', 'tiktok_business'));
ALTER TABLE social_accounts DROP CONSTRAINT social_accounts_platform_check;
ALTER TABLE social_accounts ADD CONSTRAINT social_accounts_platform_check
    CHECK (platform IN ('instagram', 'tiktok', 'youtube', 'tiktok_business'));

CREATE TABLE ad_accounts (
    id                  uuid PRIMARY KEY,
    organization_id     uuid NOT NULL REFERENCES organizations (id),
    project_id          uuid NOT NULL REFERENCES projects (id),
    is_sandbox          boolean NOT NULL,
    platform            text NOT NULL CHECK (platform IN ('meta', 'tiktok', 'apple_search_ads')),
    external_id         text NOT NULL,
    -- Meta and TikTok: the social account whose token reaches the ad account
    social_account_id   uuid,
    -- Apple Search Ads: the partner's API credentials, sealed under the master key (live); the
    -- sandbox keeps nothing
    credentials         bytea,
    name                text NOT NULL,
    currency            text NOT NULL,
    timezone            text NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    -- unlinked: kept for the campaigns that name it, never listed again
    deleted_at          timestamptz
);
CREATE INDEX ad_accounts_listing ON ad_accounts (project_id, id DESC) WHERE deleted_at IS NULL;
CREATE UNIQUE INDEX ad_accounts_linked_once ON ad_accounts (project_id, platform, external_id)
    WHERE deleted_at IS NULL;

CREATE TABLE ads_campaigns (
    id                  uuid PRIMARY KEY,
    organization_id     uuid NOT NULL REFERENCES organizations (id),
    project_id          uuid NOT NULL REFERENCES projects (id),
    is_sandbox          boolean NOT NULL,
    ad_account_id       uuid NOT NULL REFERENCES ad_accounts (id),
    platform            text NOT NULL,
    name                text NOT NULL,
    objective           text NOT NULL CHECK (objective IN ('app_installs', 'traffic', 'awareness')),
    status              text NOT NULL
                        CHECK (status IN ('pending', 'active', 'paused', 'failed', 'archived')),
    -- minor units of `currency` (the ad account's)
    daily_budget        bigint NOT NULL CHECK (daily_budget > 0),
    currency            text NOT NULL,
    start_at            timestamptz NOT NULL,
    end_at              timestamptz,
    -- the later of start_at and the creation (the project's clock time on a test clock): the
    -- first active day
    active_from         timestamptz NOT NULL,
    -- {countries, ageMin, ageMax, languages}, [{containerId, headline, caption}]
    targeting           jsonb NOT NULL,
    creatives           jsonb NOT NULL,
    app_store_url       text,
    keywords            text[] NOT NULL DEFAULT '{}',
    -- {campaign, adSet, ads: []} once created on the platform
    external_ids        jsonb,
    -- {code, message} when failed
    error               jsonb,
    job_id              uuid NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ads_campaigns_listing ON ads_campaigns (project_id, is_sandbox, id DESC);

-- whether a campaign was paused (or archived) at the end of a day: one row per day its status
-- changed, the last change of the day winning; a day without a row takes the latest before it
CREATE TABLE ads_campaign_days (
    campaign_id         uuid NOT NULL REFERENCES ads_campaigns (id) ON DELETE CASCADE,
    day                 date NOT NULL,
    paused              boolean NOT NULL,
    PRIMARY KEY (campaign_id, day)
);

-- live ad metrics, filled daily by `ads_metrics_sync` from the platforms' reports
CREATE TABLE ads_metrics_daily (
    campaign_id         uuid NOT NULL REFERENCES ads_campaigns (id) ON DELETE CASCADE,
    day                 date NOT NULL,
    spend               bigint NOT NULL,
    impressions         bigint NOT NULL,
    clicks              bigint NOT NULL,
    installs            bigint NOT NULL,
    synced_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (campaign_id, day)
);
