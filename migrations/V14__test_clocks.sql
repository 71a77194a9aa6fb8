-- Test clocks (CONTRACT §12): `/v1/test_helpers/test-clocks`. Owned by layers-projects
-- (crates/projects, `clock_store.rs`). A clock belongs to one organization and exists only in
-- its sandbox (test keys alone reach it), so it has no `is_sandbox`. A sandbox project created
-- with `testClockId` lives on that clock; deleting the clock returns its projects to the wall
-- clock (ON DELETE SET NULL).
CREATE TABLE test_clocks (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id),
    name            text,
    frozen_time     timestamptz NOT NULL,
    status          text NOT NULL DEFAULT 'ready' CHECK (status IN ('ready', 'advancing')),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX test_clocks_organization ON test_clocks (organization_id, id);

ALTER TABLE projects
    ADD COLUMN test_clock_id uuid REFERENCES test_clocks (id) ON DELETE SET NULL;
CREATE INDEX projects_test_clock ON projects (test_clock_id) WHERE test_clock_id IS NOT NULL;
