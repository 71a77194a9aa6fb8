//! Project and influencer operations against the database, one [`Projects`] per environment.

use layers_core::{EnvKind, Environment, Limit, Page};
use layers_db::{is_unique_violation, GenericClient};
use layers_orgs::OrgId;
use tokio_postgres::Row;

use crate::{
    Created, CustomerExternalId, Description, Error, Influencer, InfluencerId, LanguageTag, Name,
    NewInfluencer, NewProject, Project, ProjectId, ProjectPatch, Result, TestClockId, Timezone,
};

/// One of the organization's projects as it is now, of either environment (`None` when it has
/// no such project): what another domain reads of a project it works for, such as the name,
/// timezone and language a content generator is told. Reading it changes nothing.
pub async fn find(db: &impl GenericClient, org: OrgId, id: ProjectId) -> Result<Option<Project>> {
    let row = layers_db::cached::query_opt(
        db,
        &format!("SELECT {PROJECT_COLUMNS} FROM projects WHERE id = $1 AND organization_id = $2"),
        &[&id.as_uuid(), &org.as_uuid()],
    )
    .await?;
    Ok(row.as_ref().map(project))
}

/// Project operations for one environment: rows written through it carry its `is_sandbox`, and
/// it changes only projects of its own environment (reading is open to both).
#[derive(Clone, Copy, Debug)]
pub struct Projects {
    env: EnvKind,
    /// Projects may live on a test clock (the sandbox's, by the environment seam's choice).
    test_clocks: bool,
}

impl Environment for Projects {
    fn kind(&self) -> EnvKind {
        self.env
    }
}

const PROJECT_COLUMNS: &str = "id, organization_id, name, customer_external_id, timezone, \
                               primary_language, is_sandbox, test_clock_id, archived_at, created_at, \
                               updated_at";
const INFLUENCER_COLUMNS: &str = "id, project_id, name, description, is_sandbox, created_at";

fn project(row: &Row) -> Project {
    Project {
        id: ProjectId::from_uuid(row.get("id")),
        organization_id: OrgId::from_uuid(row.get("organization_id")),
        name: row.get("name"),
        customer_external_id: row.get("customer_external_id"),
        timezone: row.get("timezone"),
        primary_language: row.get("primary_language"),
        is_sandbox: row.get("is_sandbox"),
        test_clock_id: row
            .get::<_, Option<uuid::Uuid>>("test_clock_id")
            .map(TestClockId::from_uuid),
        archived_at: row.get("archived_at"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

fn influencer(row: &Row) -> Influencer {
    Influencer {
        id: InfluencerId::from_uuid(row.get("id")),
        project_id: ProjectId::from_uuid(row.get("project_id")),
        name: row.get("name"),
        description: row.get("description"),
        is_sandbox: row.get("is_sandbox"),
        created_at: row.get("created_at"),
    }
}

fn taken(err: tokio_postgres::Error) -> Error {
    if is_unique_violation(&err) {
        Error::CustomerExternalIdTaken
    } else {
        Error::Db(err)
    }
}

impl Projects {
    /// Project operations for `env`.
    pub fn new(env: EnvKind) -> Projects {
        Projects {
            env,
            test_clocks: false,
        }
    }

    /// The same, letting projects live on a test clock (chosen by the environment seam for the
    /// sandbox).
    pub fn allowing_test_clocks(self) -> Projects {
        Projects {
            test_clocks: true,
            ..self
        }
    }

    /// Creates a project, or returns the organization's existing project in this environment
    /// with the same `customerExternalId`.
    pub async fn create(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        new: NewProject,
    ) -> Result<(Project, Created)> {
        let external = new
            .customer_external_id
            .as_ref()
            .map(CustomerExternalId::as_str);
        let clock = new.test_clock_id.map(|c| c.as_uuid());
        if clock.is_some() && !self.test_clocks {
            return Err(Error::TestClockNotFound);
        }
        // the clock, if named, must be the organization's: else no row, and no insert
        let inserted = layers_db::cached::query_opt(
            db,
            &format!(
                "INSERT INTO projects (id, organization_id, name, customer_external_id, timezone, \
                                           primary_language, is_sandbox, test_clock_id) \
                     SELECT $1, $2, $3, $4, $5, $6, $7, $8 \
                     WHERE $8::uuid IS NULL OR EXISTS ( \
                         SELECT 1 FROM test_clocks WHERE id = $8 AND organization_id = $2) \
                     ON CONFLICT (organization_id, is_sandbox, customer_external_id) \
                         WHERE customer_external_id IS NOT NULL DO NOTHING \
                     RETURNING {PROJECT_COLUMNS}"
            ),
            &[
                &ProjectId::new().as_uuid(),
                &org.as_uuid(),
                &new.name.as_str(),
                &external,
                &new.timezone.as_str(),
                &new.primary_language.as_str(),
                &self.env.is_sandbox(),
                &clock,
            ],
        )
        .await?;
        if let Some(row) = inserted {
            return Ok((project(&row), Created::New));
        }
        if let Some(clock) = new.test_clock_id {
            if crate::find_clock(db, org, clock).await?.is_none() {
                return Err(Error::TestClockNotFound);
            }
        }
        let row = layers_db::cached::query_one(
            db,
            &format!(
                "SELECT {PROJECT_COLUMNS} FROM projects \
                     WHERE organization_id = $1 AND is_sandbox = $2 AND customer_external_id = $3"
            ),
            &[&org.as_uuid(), &self.env.is_sandbox(), &external],
        )
        .await?;
        Ok((project(&row), Created::Existing))
    }

    /// Reads one of the organization's projects in this environment. A project of the other
    /// environment is [`Error::InOtherEnvironment`], so that the caller can say where it is.
    pub async fn get(&self, db: &impl GenericClient, org: OrgId, id: ProjectId) -> Result<Project> {
        let found = self.get_any(db, org, id).await?;
        if found.is_sandbox != self.env.is_sandbox() {
            return Err(Error::InOtherEnvironment(self.env.other()));
        }
        Ok(found)
    }

    /// A project of this environment that work (a job, content) may start under: one of the
    /// other environment is [`Error::EnvironmentMismatch`], an archived one [`Error::Archived`].
    pub async fn require_active(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        id: ProjectId,
    ) -> Result<Project> {
        let found = self.get_any(db, org, id).await?;
        if found.is_sandbox != self.env.is_sandbox() {
            return Err(Error::EnvironmentMismatch(self.env.other()));
        }
        if found.archived_at.is_some() {
            return Err(Error::Archived);
        }
        Ok(found)
    }

    /// Reads a project of either environment.
    async fn get_any(&self, db: &impl GenericClient, org: OrgId, id: ProjectId) -> Result<Project> {
        find(db, org, id).await?.ok_or(Error::NotFound)
    }

    /// Refuses an influencer that is not one of the project's ([`Error::InfluencerNotFound`]).
    /// One statement, so that a command can pipeline it with its other checks and writes.
    pub async fn check_influencer(
        &self,
        db: &impl GenericClient,
        project_id: ProjectId,
        influencer_id: uuid::Uuid,
    ) -> Result<()> {
        layers_db::cached::query_opt(
            db,
            "SELECT 1 FROM influencers WHERE id = $1 AND project_id = $2",
            &[&influencer_id, &project_id.as_uuid()],
        )
        .await?
        .map(|_| ())
        .ok_or(Error::InfluencerNotFound)
    }

    /// Lists the organization's projects of this environment, newest first, after the `after`
    /// cursor.
    pub async fn list(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        limit: Limit,
        after: Option<ProjectId>,
    ) -> Result<Page<Project, ProjectId>> {
        let rows = layers_db::cached::query(
            db,
            &format!(
                "SELECT {PROJECT_COLUMNS} FROM projects \
                     WHERE organization_id = $1 AND is_sandbox = $4 \
                       AND ($2::uuid IS NULL OR id < $2) \
                     ORDER BY id DESC LIMIT $3"
            ),
            &[
                &org.as_uuid(),
                &after.map(|a| a.as_uuid()),
                &(i64::from(limit.get()) + 1),
                &self.env.is_sandbox(),
            ],
        )
        .await?;
        let items = rows.iter().map(project).collect();
        Ok(Page::from_overfetch(items, limit, |p: &Project| p.id))
    }

    /// Changes the given fields. An archived project cannot be changed.
    pub async fn update(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        id: ProjectId,
        patch: ProjectPatch,
    ) -> Result<Project> {
        let row = layers_db::cached::query_opt(
            db,
            &format!(
                "UPDATE projects SET \
                         name = coalesce($3, name), \
                         customer_external_id = coalesce($4, customer_external_id), \
                         timezone = coalesce($5, timezone), \
                         primary_language = coalesce($6, primary_language), \
                         updated_at = now() \
                     WHERE id = $1 AND organization_id = $2 AND archived_at IS NULL \
                       AND is_sandbox = $7 \
                     RETURNING {PROJECT_COLUMNS}"
            ),
            &[
                &id.as_uuid(),
                &org.as_uuid(),
                &patch.name.as_ref().map(Name::as_str),
                &patch
                    .customer_external_id
                    .as_ref()
                    .map(CustomerExternalId::as_str),
                &patch.timezone.as_ref().map(Timezone::as_str),
                &patch.primary_language.as_ref().map(LanguageTag::as_str),
                &self.env.is_sandbox(),
            ],
        )
        .await
        .map_err(taken)?;
        match row {
            Some(row) => Ok(project(&row)),
            None => Err(self.why_not_writable(db, org, id).await),
        }
    }

    /// Archives a project. Archiving an archived project changes nothing and succeeds.
    pub async fn archive(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        id: ProjectId,
    ) -> Result<Project> {
        let row = layers_db::cached::query_opt(
                db,
                &format!(
                    "UPDATE projects SET \
                         updated_at = CASE WHEN archived_at IS NULL THEN now() ELSE updated_at END, \
                         archived_at = coalesce(archived_at, now()) \
                     WHERE id = $1 AND organization_id = $2 AND is_sandbox = $3 \
                     RETURNING {PROJECT_COLUMNS}"
                ),
                &[&id.as_uuid(), &org.as_uuid(), &self.env.is_sandbox()],
            )
            .await?;
        match row {
            Some(row) => Ok(project(&row)),
            None => Err(self.why_not_writable(db, org, id).await),
        }
    }

    /// Adds an influencer to a project that is not archived.
    pub async fn create_influencer(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        project_id: ProjectId,
        new: NewInfluencer,
    ) -> Result<Influencer> {
        let row = layers_db::cached::query_opt(
                db,
                &format!(
                    "INSERT INTO influencers (id, project_id, organization_id, name, description, is_sandbox) \
                     SELECT $1, p.id, p.organization_id, $4, $5, $6 FROM projects p \
                     WHERE p.id = $2 AND p.organization_id = $3 AND p.archived_at IS NULL \
                       AND p.is_sandbox = $6 \
                     RETURNING {INFLUENCER_COLUMNS}"
                ),
                &[
                    &InfluencerId::new().as_uuid(),
                    &project_id.as_uuid(),
                    &org.as_uuid(),
                    &new.name.as_str(),
                    &new.description.as_ref().map(Description::as_str),
                    &self.env.is_sandbox(),
                ],
            )
            .await?;
        match row {
            Some(row) => Ok(influencer(&row)),
            None => Err(self.why_not_writable(db, org, project_id).await),
        }
    }

    /// Lists a project's influencers, newest first. A project of the other environment is
    /// [`Error::InOtherEnvironment`].
    pub async fn list_influencers(
        &self,
        db: &impl GenericClient,
        org: OrgId,
        project_id: ProjectId,
        limit: Limit,
        after: Option<InfluencerId>,
    ) -> Result<Page<Influencer, InfluencerId>> {
        let rows = layers_db::cached::query(
            db,
            "SELECT i.id, i.project_id, i.name, i.description, i.is_sandbox, i.created_at, \
                    p.is_sandbox AS project_is_sandbox \
                 FROM projects p \
                 LEFT JOIN LATERAL ( \
                     SELECT * FROM influencers \
                     WHERE project_id = p.id AND ($3::uuid IS NULL OR id < $3) \
                     ORDER BY id DESC LIMIT $4) i ON true \
                 WHERE p.id = $1 AND p.organization_id = $2 \
                 ORDER BY i.id DESC",
            &[
                &project_id.as_uuid(),
                &org.as_uuid(),
                &after.map(|a| a.as_uuid()),
                &(i64::from(limit.get()) + 1),
            ],
        )
        .await?;
        // no row: no such project; one row of NULLs: a project without influencers
        let Some(first) = rows.first() else {
            return Err(Error::NotFound);
        };
        if first.get::<_, bool>("project_is_sandbox") != self.env.is_sandbox() {
            return Err(Error::InOtherEnvironment(self.env.other()));
        }
        let items = rows
            .iter()
            .filter(|r| r.get::<_, Option<uuid::Uuid>>("id").is_some())
            .map(influencer)
            .collect();
        Ok(Page::from_overfetch(items, limit, |i: &Influencer| i.id))
    }

    /// After a guarded write matched no row: was the project missing or archived?
    async fn why_not_writable(&self, db: &impl GenericClient, org: OrgId, id: ProjectId) -> Error {
        match self.get_any(db, org, id).await {
            Ok(p) if p.is_sandbox != self.env.is_sandbox() => {
                Error::EnvironmentMismatch(self.env.other())
            }
            Ok(p) if p.archived_at.is_some() => Error::Archived,
            Ok(_) => Error::NotFound, // not reachable for a guarded write, but never a success
            Err(e) => e,
        }
    }
}
