-- Owned by layers-projects (crates/projects), published for other domains to read: the frozen
-- time of the test clock each clocked (sandbox) project lives on. Publishing reads it inside the
-- statement that writes a publish-now post's targets, so that `postedAt` is the clock's time
-- without a round trip of its own. A project without a clock has no row.
CREATE VIEW project_clock_times AS
    SELECT p.id AS project_id, c.frozen_time
    FROM projects p
    JOIN test_clocks c ON c.id = p.test_clock_id;
