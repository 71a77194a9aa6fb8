-- Test clock advances (CONTRACT §12). `clock_connected_at` (layers-social): the clock time a
-- sandbox account of a clocked project connected at, stamped by the first advance that sees
-- it unstamped with the clock's time before that advance (exact: a clock does not move between
-- advances); 60 clock days later the account turns needs_reauth.
ALTER TABLE social_accounts ADD COLUMN clock_connected_at timestamptz;

-- an advance publishes the due sandbox posts of its projects in one statement per table
CREATE INDEX scheduled_posts_due ON scheduled_posts (project_id, publish_at)
    WHERE status = 'scheduled';
