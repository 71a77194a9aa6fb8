-- Publishing (CONTRACT §11 "Publishing"), live token upkeep (§11 "Social accounts") and live
-- post metrics (§11 "Metrics").

-- a live account's token expiry, so that it is refreshed before it runs out (null: no expiry
-- known, or a sandbox account)
ALTER TABLE social_accounts ADD COLUMN token_expires_at timestamptz;

CREATE TABLE scheduled_posts (
    id                  uuid PRIMARY KEY,
    organization_id     uuid NOT NULL REFERENCES organizations (id),
    project_id          uuid NOT NULL REFERENCES projects (id),
    is_sandbox          boolean NOT NULL,
    container_id        uuid NOT NULL REFERENCES content_containers (id),
    -- the `publish` job that runs it
    job_id              uuid NOT NULL,
    status              text NOT NULL
                        CHECK (status IN ('scheduled', 'publishing', 'published', 'failed', 'canceled')),
    publish_at          timestamptz NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX scheduled_posts_listing ON scheduled_posts (project_id, id DESC);
-- a container has at most one post that is not canceled or failed (409 already_published), so
-- `sb_post_<containerId>_<targetIndex>` stays unique
CREATE UNIQUE INDEX scheduled_posts_one_per_container ON scheduled_posts (container_id)
    WHERE status NOT IN ('canceled', 'failed');

-- one row per target of a scheduled post: where it went and how it ended
CREATE TABLE platform_posts (
    scheduled_post_id   uuid NOT NULL REFERENCES scheduled_posts (id) ON DELETE CASCADE,
    target_index        integer NOT NULL,
    project_id          uuid NOT NULL REFERENCES projects (id),
    is_sandbox          boolean NOT NULL,
    social_account_id   uuid NOT NULL REFERENCES social_accounts (id),
    platform            text NOT NULL CHECK (platform IN ('instagram', 'tiktok', 'youtube')),
    caption             text,
    status              text NOT NULL
                        CHECK (status IN ('scheduled', 'publishing', 'published', 'failed', 'canceled')),
    -- the platform's id of the post (externalId); `sb_post_<containerId>_<targetIndex>` in the
    -- sandbox
    platform_post_id    text,
    permalink           text,
    posted_at           timestamptz,
    error               text,
    PRIMARY KEY (scheduled_post_id, target_index)
);
-- the metrics routes: a project's published posts, and a post by its external id
CREATE INDEX platform_posts_published ON platform_posts (project_id, platform_post_id)
    WHERE status = 'published';

-- live post metrics, one row per post and UTC day, filled by the `metrics_sync` job from the
-- platforms' insights (each day holds what the lifetime totals grew by since the day before)
CREATE TABLE post_metrics_daily (
    platform_post_id    text NOT NULL,
    platform            text NOT NULL,
    day                 date NOT NULL,
    views               bigint NOT NULL DEFAULT 0,
    reach               bigint NOT NULL DEFAULT 0,
    likes               bigint NOT NULL DEFAULT 0,
    comments            bigint NOT NULL DEFAULT 0,
    shares              bigint NOT NULL DEFAULT 0,
    saves               bigint NOT NULL DEFAULT 0,
    watch_time_ms       bigint NOT NULL DEFAULT 0,
    synced_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (platform, platform_post_id, day)
);

-- a `publish` job canceled through /v1/jobs/:id/cancel cancels its post too, if it has not
-- started publishing
CREATE FUNCTION publish_job_canceled() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE platform_posts SET status = 'canceled'
     WHERE scheduled_post_id IN (SELECT id FROM scheduled_posts
                                  WHERE job_id = NEW.id AND status = 'scheduled');
    UPDATE scheduled_posts SET status = 'canceled', updated_at = now()
     WHERE job_id = NEW.id AND status = 'scheduled';
    RETURN NULL;
END $$;
CREATE TRIGGER publish_job_canceled AFTER UPDATE OF status ON jobs
    FOR EACH ROW WHEN (NEW.kind = 'publish' AND NEW.status = 'canceled' AND OLD.status <> 'canceled')
    EXECUTE FUNCTION publish_job_canceled();
