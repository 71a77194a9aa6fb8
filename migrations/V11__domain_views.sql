-- Views a domain publishes for other domains to read. A table is read and written only by the
-- crate that owns it; where another domain needs its data on a path that must stay one
-- statement, the owner declares a view here, and the view is the owner's published read
-- interface: it owns the view as it owns the tables beneath, keeps its columns' meaning stable,
-- and may change those tables freely behind it. Readers name the view, never the tables.

-- Owned by layers-orgs (crates/orgs): what other domains may know of an organization. Its id
-- (a row exists exactly while the organization does), its plan, its monthly API-call ceiling
-- (NULL: unlimited) and whether its plan carries the `api_access` feature. Read by layers-keys
-- (authentication's one-statement key lookup, and minting a key for an existing organization)
-- and by layers-credits (grants and balances of an existing organization). The `layers_auth`
-- triggers on `organizations` and `plans` still tell the key cache when any of it changes.
CREATE VIEW organization_access AS
    SELECT o.id, o.plan, o.monthly_quota, ('api_access' = ANY (p.features)) AS api_access
    FROM organizations o
    JOIN plans p ON p.code = o.plan;
