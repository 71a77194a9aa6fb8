//! The end-to-end HTTP tests, one binary with a module per resource, so the gateway is linked
//! once (zero2prod's `tests/api/main.rs`). The operator CLI is tested in `gateway/tests/cli.rs`.

mod ads;
mod ads_live;
mod at_rest;
mod auth;
mod catalogue;
mod content;
mod errors;
mod idempotency;
mod influencers;
mod isolation;
mod jobs;
mod journey;
mod limits;
mod live_platforms;
mod magic;
mod media_ranges;
mod metrics;
mod openapi;
mod outage;
mod projects;
mod publishing;
mod security;
mod social;
mod test_clocks;
mod test_helpers;
mod uploads;
mod webhooks;
