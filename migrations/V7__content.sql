-- Content (CONTRACT §11 "Content" and "Uploads"): containers and their assets.

CREATE TABLE content_containers (
    id                  uuid PRIMARY KEY,
    organization_id     uuid NOT NULL REFERENCES organizations (id),
    project_id          uuid NOT NULL REFERENCES projects (id),
    is_sandbox          boolean NOT NULL,
    format              text NOT NULL
                        CHECK (format IN ('slideshow', 'video-remix', 'ugc-creative', 'image', 'video')),
    source              text NOT NULL CHECK (source IN ('generated', 'uploaded')),
    status              text NOT NULL
                        CHECK (status IN ('queued', 'generating', 'completed', 'failed')),
    variant_index       integer NOT NULL DEFAULT 0,
    hook                text,
    caption             text,
    influencer_id       uuid,
    -- the job that generates (or last regenerated) it
    job_id              uuid,
    -- how many times it was regenerated: the n-th regeneration's sandbox sample
    regenerations       integer NOT NULL DEFAULT 0,
    error               jsonb,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX content_containers_listing ON content_containers (project_id, id DESC);
CREATE INDEX content_containers_job ON content_containers (job_id);

CREATE TABLE content_assets (
    id                  uuid PRIMARY KEY,
    container_id        uuid NOT NULL REFERENCES content_containers (id) ON DELETE CASCADE,
    position            integer NOT NULL,
    kind                text NOT NULL CHECK (kind IN ('image', 'video', 'thumbnail')),
    -- a sandbox fixture's path under /sandbox/, or a live object's key in storage
    fixture_path        text,
    storage_key         text,
    content_type        text NOT NULL,
    width               integer,
    height              integer,
    created_at          timestamptz NOT NULL DEFAULT now(),
    CHECK ((fixture_path IS NULL) <> (storage_key IS NULL)),
    UNIQUE (container_id, position)
);

-- Direct uploads: a session of declared files, each PUT to its signed URL, then finalized into a
-- container.
CREATE TABLE upload_sessions (
    id                  uuid PRIMARY KEY,
    organization_id     uuid NOT NULL REFERENCES organizations (id),
    project_id          uuid NOT NULL REFERENCES projects (id),
    is_sandbox          boolean NOT NULL,
    caption             text,
    hook                text,
    -- set once finalized: the container it became
    container_id        uuid REFERENCES content_containers (id),
    expires_at          timestamptz NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE upload_files (
    session_id          uuid NOT NULL REFERENCES upload_sessions (id) ON DELETE CASCADE,
    index               integer NOT NULL,
    filename            text NOT NULL,
    content_type        text NOT NULL,
    size_bytes          bigint NOT NULL,
    -- set once the bytes are stored and checked
    storage_key         text,
    width               integer,
    height              integer,
    received_at         timestamptz,
    PRIMARY KEY (session_id, index)
);

-- the monthly upload quota counts a project's live uploaded containers
CREATE INDEX content_containers_uploads ON content_containers (project_id, created_at)
    WHERE source = 'uploaded' AND NOT is_sandbox;
