//! The environment seam of social: where `oauth-url` sends the user (the platforms' consent
//! pages live, the API's own `sandbox-complete` in the sandbox) and what a token-refresh job
//! does.

use crate::live::{Refresh, Vault};
use crate::{MintedState, NotConfigured, Platform};

/// Where `oauth-url` sends the user, per environment.
#[derive(Clone, Debug)]
pub enum OAuth {
    /// The platforms' authorize URLs, the callback and the token vault.
    Live(Box<Vault>),
    /// The API's own `sandbox-complete`, completed by a plain GET: no platform, no token.
    Sandbox,
}

impl OAuth {
    /// The URL to send the user to for `state`.
    pub fn authorize_url(
        &self,
        public_base_url: &str,
        platform: Platform,
        state: &MintedState,
    ) -> Result<String, NotConfigured> {
        match self {
            OAuth::Sandbox => Ok(format!(
                "{public_base_url}/v1/social/sandbox-complete?state={}&platform={}",
                state.token,
                platform.as_str()
            )),
            OAuth::Live(vault) => vault.authorize_url(platform, state),
        }
    }

    /// Refuses (before anything is written) a platform the live side is not configured for.
    pub fn ready(&self, platform: Platform) -> Result<(), NotConfigured> {
        match self {
            OAuth::Sandbox => Ok(()),
            OAuth::Live(vault) => vault.ready(platform),
        }
    }

    /// One attempt of a token-refresh job: live refreshes the account's token; a sandbox
    /// account's token never expires, so none is ever queued.
    pub async fn refresh(
        &self,
        job: &layers_jobs::Job,
        task: &Refresh,
        control: &layers_jobs::Control,
    ) -> std::result::Result<serde_json::Value, layers_jobs::Failure> {
        match self {
            OAuth::Live(vault) => vault.run_refresh(job, task, control.pool()).await,
            OAuth::Sandbox => Err(layers_jobs::Failure::Permanent(
                "sandbox accounts never need a refresh".into(),
            )),
        }
    }
}

/// What the user does on the sandbox's consent "page", chosen by `sandbox-complete`'s
/// `outcome` (CONTRACT §12): consents (the default, `connected`), or presses "Cancel"
/// (`access_denied`), as on a platform's consent page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SandboxConsent {
    Granted,
    Denied,
}

impl SandboxConsent {
    /// The consent an `outcome` names (`None` for an outcome it does not know).
    pub fn parse(outcome: Option<&str>) -> Option<SandboxConsent> {
        match outcome {
            None | Some("connected") => Some(SandboxConsent::Granted),
            Some("access_denied") => Some(SandboxConsent::Denied),
            Some(_) => None,
        }
    }

    /// The `error` a platform sends back when the user declined, if the user did.
    pub fn declined(self) -> Option<&'static str> {
        match self {
            SandboxConsent::Granted => None,
            SandboxConsent::Denied => Some("access_denied"),
        }
    }
}
