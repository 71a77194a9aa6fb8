//! The test helpers of CONTRACT §12 (`/v1/test_helpers/…`): commands that exist only for a
//! test key. [`EnvServices::test_helpers`] hands them out for the sandbox set alone, so the
//! live set has none to call (the gateway answers a live key 404, as for a route that does not
//! exist). Each command is one domain call or, for `reset`, each domain's own
//! `delete_sandbox` in the caller's transaction, children before parents.

use chrono::{DateTime, Utc};
use layers_core::{Limit, Page};
use layers_db::GenericClient;
use layers_orgs::OrgId;
use layers_projects::{ProjectId, TestClock, TestClockId};
use layers_social::{Account, SocialAccountId};
use layers_webhooks::{EndpointId, EventId, EventType, ProjectEvents, StoreError};
use thiserror::Error;

use crate::EnvServices;

/// The test helpers of the sandbox set.
#[derive(Debug, Clone, Copy)]
pub struct TestHelpers<'a> {
    pub(crate) services: &'a EnvServices,
}

impl EnvServices {
    /// The test helpers: `Some` for the sandbox set only.
    pub fn test_helpers(&self) -> Option<TestHelpers<'_>> {
        self.kind
            .is_sandbox()
            .then_some(TestHelpers { services: self })
    }
}

/// What a reset deleted, by kind of resource.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Deleted {
    pub projects: u64,
    pub contents: u64,
    pub uploads: u64,
    pub social_accounts: u64,
    pub scheduled_posts: u64,
    pub jobs: u64,
    pub events: u64,
    pub webhook_endpoints: u64,
}

/// Why a clock was not deleted.
#[derive(Debug, Error)]
pub enum ClockDeleteError {
    #[error(transparent)]
    Projects(#[from] layers_projects::Error),
    #[error(transparent)]
    Publishing(#[from] layers_publishing::Error),
}

/// Why a reset did nothing.
#[derive(Debug, Error)]
pub enum ResetError {
    /// The project is not one of the organization's sandbox projects.
    #[error("no such project")]
    ProjectNotFound,
    #[error(transparent)]
    Db(#[from] layers_db::tokio_postgres::Error),
}

impl From<layers_projects::Error> for ResetError {
    fn from(e: layers_projects::Error) -> Self {
        match e {
            layers_projects::Error::Db(e) => ResetError::Db(e),
            _ => ResetError::ProjectNotFound,
        }
    }
}

impl TestHelpers<'_> {
    /// Creates a test clock of the organization, `ready` at `frozen_time`.
    pub async fn create_clock(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        frozen_time: DateTime<Utc>,
        name: Option<&str>,
    ) -> Result<TestClock, layers_projects::Error> {
        layers_projects::create_clock(db, org, frozen_time, name).await
    }

    /// One of the organization's test clocks; `None`: not one of its clocks.
    pub async fn clock(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        id: TestClockId,
    ) -> Result<Option<TestClock>, layers_projects::Error> {
        layers_projects::find_clock(db, org, id).await
    }

    /// The organization's test clocks, newest first.
    pub async fn clocks(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        limit: Limit,
        after: Option<TestClockId>,
    ) -> Result<Page<TestClock, TestClockId>, layers_projects::Error> {
        layers_projects::list_clocks(db, org, limit, after).await
    }

    /// Deletes one of the organization's test clocks: its projects return to the wall clock,
    /// their scheduled posts' jobs to run at `publishAt`.
    pub async fn delete_clock(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        id: TestClockId,
    ) -> Result<Option<TestClock>, ClockDeleteError> {
        let Some(found) = layers_projects::find_clock(db, org, id).await? else {
            return Ok(None);
        };
        let projects: Vec<uuid::Uuid> = layers_projects::clock_projects(db, found.id)
            .await?
            .iter()
            .map(|p| p.as_uuid())
            .collect();
        let deleted = layers_projects::delete_clock(db, org, id).await?;
        layers_publishing::release_from_clock(db, org, &projects).await?;
        Ok(deleted)
    }

    /// Fires an event of `event_type` at one sandbox endpoint of the organization, with `data`
    /// or the type's example; an unknown or live endpoint is [`StoreError::NotFound`].
    pub async fn fire(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        endpoint: EndpointId,
        event_type: EventType,
        data: Option<serde_json::Value>,
    ) -> Result<EventId, StoreError> {
        self.services
            .webhooks
            .fire(db, org, endpoint, event_type, data)
            .await
    }

    /// Marks one sandbox account of the organization `needs_reauth`, firing
    /// `social_account.needs_reauth`.
    pub async fn expire(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        account: SocialAccountId,
    ) -> Result<Account, layers_social::Error> {
        self.services.social.expire(db, org, account).await
    }

    /// Turns the organization's sandbox credit exhaustion on or off; answers it as it now is.
    pub async fn exhaust(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        enabled: bool,
    ) -> Result<bool, layers_credits::Error> {
        layers_credits::set_sandbox_exhausted(db, org, enabled).await
    }

    /// Deletes the organization's sandbox data, of one project or all of it, in the caller's
    /// transaction: scheduled posts (with their targets), upload sessions, content containers,
    /// social accounts (and OAuth states), jobs, projects (and influencers), events (with their
    /// deliveries) and, if asked, webhook endpoints. Never a live row, the wallet, the credit
    /// audit or the monthly quota counter. A project's reset deletes the events whose data
    /// names the project or one of its containers (see [`ProjectEvents`]); endpoints belong to
    /// the organization, so `include_endpoints` deletes all of its sandbox endpoints either way.
    pub async fn reset(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        project: Option<ProjectId>,
        include_endpoints: bool,
    ) -> Result<Deleted, ResetError> {
        if let Some(id) = project {
            // only a sandbox project of the organization (a live one is not found)
            self.services.projects.get(db, org, id).await?;
        }
        let project = project.map(|p| p.as_uuid());
        layers_ads::delete_sandbox(db, org, project).await?;
        let scheduled_posts = layers_publishing::delete_sandbox(db, org, project).await?;
        let content = layers_content::delete_sandbox(db, org, project).await?;
        let social_accounts = layers_social::delete_sandbox(db, org, project).await?;
        let jobs = layers_jobs::delete_sandbox(db, org, project).await?;
        let projects = layers_projects::delete_sandbox(db, org, project).await?;
        let events = project.map(|project| ProjectEvents {
            project,
            containers: &content.containers,
        });
        let events = layers_webhooks::delete_sandbox(db, org, events).await?;
        let webhook_endpoints = if include_endpoints {
            layers_webhooks::delete_sandbox_endpoints(db, org).await?
        } else {
            0
        };
        Ok(Deleted {
            projects,
            contents: content.containers.len() as u64,
            uploads: content.uploads,
            social_accounts,
            scheduled_posts,
            jobs,
            events,
            webhook_endpoints,
        })
    }
}
