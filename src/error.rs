//! The one error every stage reports: what went wrong, and a hint that says what to do.

use crate::app_key::KeyError;
use crate::config::ConfigError;
use crate::github::GitHubError;
use crate::http::HttpError;
use crate::provider::oidc_exchange::StsError;
use crate::runner::RunnerError;
use crate::seal::SealError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    GitHub(#[from] GitHubError),
    #[error(transparent)]
    Sts(#[from] StsError),
    #[error("could not sign the app JWT: the private key {0}")]
    Signing(#[from] KeyError),
    #[error("could not pass the token on: {0}")]
    Runner(#[from] RunnerError),
    #[error("input `{input}`: {source}")]
    Seal {
        input: &'static str,
        source: SealError,
    },
    #[error("least-privilege is `enforce`: {0}")]
    LeastPrivilege(String),
}

impl From<HttpError> for Error {
    fn from(error: HttpError) -> Self {
        Error::GitHub(GitHubError::Http(error))
    }
}

impl Error {
    /// A short title for the `::error` annotation.
    pub fn title(&self) -> &'static str {
        match self {
            Error::Config(_) | Error::Seal { .. } | Error::LeastPrivilege(_) => {
                "token-lease: invalid input"
            }
            Error::GitHub(_) | Error::Signing(_) => "token-lease: GitHub refused the token",
            Error::Sts(_) => "token-lease: keyless exchange failed",
            Error::Runner(_) => "token-lease: runner",
        }
    }

    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Config(error) => error.hint(),
            Error::GitHub(error) => github_hint(error),
            Error::Sts(error) => sts_hint(error),
            Error::Seal { .. } => Some(
                "`seal-key` must be the secret key printed by the same `token-lease keygen` run whose public key the mint job got as `seal-to`, and `sealed-token` the mint job's `sealed-token` output, unchanged".to_owned(),
            ),
            Error::LeastPrivilege(_) => Some(
                "name each permission the job needs (`permission-<name>` inputs or `permissions`) and list `repositories`, or set `least-privilege: warn`".to_owned(),
            ),
            Error::Signing(_) | Error::Runner(_) => None,
        }
    }
}

fn github_hint(error: &GitHubError) -> Option<String> {
    Some(match error {
        GitHubError::AppAuthRejected { issuer, message } => {
            let message = message.to_ascii_lowercase();
            if message.contains("'exp'") || message.contains("'iat'") || message.contains("expir") {
                "the runner's clock and GitHub's disagree (clock skew): the JWT is valid from 60 s ago for 9 minutes; check the runner's time sync".to_owned()
            } else if message.contains("integration not found") {
                format!("no GitHub App has {issuer}: check `app-id` / `client-id`")
            } else {
                format!("`private-key` does not belong to the app with {issuer}: use a key generated for this app (app settings, Private keys), or fix `app-id` / `client-id`")
            }
        }
        GitHubError::NotInstalled { .. } => {
            "install the app on that account or repository, or fix `owner` / `repositories`".to_owned()
        }
        GitHubError::TokenRefused { .. } => {
            "ask only for permissions the app has and the installation accepted, and only repositories the installation can reach".to_owned()
        }
        GitHubError::Http(HttpError::Unreachable { .. }) => {
            "check `github-api-url` (on GitHub Enterprise Server it is https://HOST/api/v3) and the runner's network".to_owned()
        }
        _ => return None,
    })
}

fn sts_hint(error: &StsError) -> Option<String> {
    Some(match error {
        StsError::NoOidc | StsError::OidcRefused { .. } => {
            "grant the job `permissions: id-token: write` so it can request an OIDC token".to_owned()
        }
        StsError::Refused { identity, .. } => format!(
            "check the trust policy `.github/chainguard/{identity}.sts.yaml` in the scope's repository (or `.github` repository for an org scope): its issuer, subject and claims must match this job"
        ),
        StsError::Http(_) => "check `sts-url` and that the STS is up".to_owned(),
        _ => return None,
    })
}
