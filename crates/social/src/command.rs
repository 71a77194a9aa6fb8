//! The social write a partner starts a connection with, as a domain command: the project must
//! be active and the platform ready (live: its app configured), then a state is minted and the
//! environment's [`OAuth`] says where to send the user.

use layers_db::GenericClient;
use layers_orgs::OrgId;
use layers_projects::{ProjectId, Projects};

use crate::{MintedState, OAuth, Platform, Social};

/// A partner's request for an OAuth URL.
#[derive(Debug, Clone)]
pub struct StartConnect {
    pub organization_id: OrgId,
    pub api_key_id: uuid::Uuid,
    pub project_id: ProjectId,
    pub platform: Platform,
    /// Where the user lands after consenting (checked by the caller: https, no credentials).
    pub redirect_uri: Option<String>,
    /// `LAYERS_PUBLIC_BASE_URL`, where the sandbox's completion lives.
    pub public_base_url: String,
    /// Ask for the ads consent too (Instagram: `ads_management`, `ads_read`).
    pub ads: bool,
}

/// Why a connection was not started.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Project(#[from] layers_projects::Error),
    #[error(transparent)]
    NotConfigured(#[from] crate::NotConfigured),
    #[error(transparent)]
    Social(#[from] crate::Error),
}

/// The services of one environment that the social command reaches.
#[derive(Clone, Copy, Debug)]
pub struct SocialEnv<'a> {
    pub projects: &'a Projects,
    pub social: &'a Social,
    pub oauth: &'a OAuth,
}

impl SocialEnv<'_> {
    /// Starts connecting `cmd.platform` to the project: the URL to send the user to and the
    /// state it carries (15 minutes), written in the caller's transaction.
    pub async fn start_connect(
        &self,
        db: &impl GenericClient,
        cmd: StartConnect,
    ) -> Result<(String, MintedState), ConnectError> {
        self.projects
            .require_active(db, cmd.organization_id, cmd.project_id)
            .await?;
        self.oauth.ready(cmd.platform)?;
        let minted = self
            .social
            .mint_state(
                db,
                &crate::StateFor {
                    organization_id: cmd.organization_id,
                    project_id: cmd.project_id.as_uuid(),
                    api_key_id: cmd.api_key_id,
                    platform: cmd.platform,
                    redirect_uri: cmd.redirect_uri.as_deref(),
                    ads: cmd.ads,
                },
            )
            .await?;
        let url = self
            .oauth
            .authorize_url(&cmd.public_base_url, cmd.platform, &minted)?;
        Ok((url, minted))
    }
}
