//! The three GitHub App calls the action makes: find the installation, create a scoped
//! installation token, revoke it. Responses are read as our own structs rather than
//! octocrab's typed models, which drop most granted permissions.

use std::collections::BTreeMap;

use http::{Method, StatusCode};
use serde::Deserialize;

use crate::app_key::Issuer;
use crate::http::{Auth, BaseUrl, Http, HttpError, Request, Response};
use crate::secret::Secret;

#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("GitHub refused the app JWT for {issuer} (HTTP 401: {message})")]
    AppAuthRejected { issuer: String, message: String },
    #[error("the GitHub App is not installed on {target} (HTTP 404 from {path})")]
    NotInstalled { target: String, path: String },
    #[error("GitHub refused to create the token (HTTP 422: {message})")]
    TokenRefused { message: String },
    #[error("{what} failed with HTTP {status}: {message}")]
    Status {
        what: &'static str,
        status: u16,
        message: String,
    },
    #[error("{what}: the response is not the JSON GitHub sends ({cause})")]
    BadResponse { what: &'static str, cause: String },
}

/// What decides which installation to use and which repositories the token covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InstallationTarget {
    /// Neither `owner` nor `repositories`: the repository the workflow runs in, only.
    CurrentRepository { owner: String, repository: String },
    /// `owner` alone: every repository the installation on that account can reach.
    Owner { owner: String },
    /// `repositories` (under `owner`, default the current owner): exactly those.
    Repositories {
        owner: String,
        repositories: Vec<String>,
    },
}

impl InstallationTarget {
    pub fn owner(&self) -> &str {
        match self {
            InstallationTarget::CurrentRepository { owner, .. }
            | InstallationTarget::Owner { owner }
            | InstallationTarget::Repositories { owner, .. } => owner,
        }
    }

    /// The repositories the token is asked for; `None` asks for all of the installation's.
    pub fn repositories(&self) -> Option<Vec<String>> {
        match self {
            InstallationTarget::CurrentRepository { repository, .. } => {
                Some(vec![repository.clone()])
            }
            InstallationTarget::Owner { .. } => None,
            InstallationTarget::Repositories { repositories, .. } => Some(repositories.clone()),
        }
    }

    fn lookup_path(&self) -> String {
        match self {
            InstallationTarget::CurrentRepository { owner, repository } => {
                format!("/repos/{owner}/{repository}/installation")
            }
            // The users form answers for organisations too, so one call serves both.
            InstallationTarget::Owner { owner } => format!("/users/{owner}/installation"),
            InstallationTarget::Repositories {
                owner,
                repositories,
            } => {
                let first = repositories.first().map(String::as_str).unwrap_or_default();
                format!("/repos/{owner}/{first}/installation")
            }
        }
    }

    fn describe(&self) -> String {
        match self {
            InstallationTarget::CurrentRepository { owner, repository } => {
                format!("{owner}/{repository}")
            }
            InstallationTarget::Owner { owner } => format!("the account `{owner}`"),
            InstallationTarget::Repositories {
                owner,
                repositories,
            } => format!(
                "{owner}/{}",
                repositories.first().map(String::as_str).unwrap_or_default()
            ),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct Installation {
    pub id: u64,
    pub app_slug: String,
    pub account: Option<Account>,
    #[serde(default)]
    pub repository_selection: Option<String>,
    #[serde(default)]
    pub permissions: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Account {
    #[serde(default)]
    pub login: Option<String>,
}

/// A freshly created installation token and what GitHub says it may do.
#[derive(Debug, Deserialize)]
pub struct IssuedToken {
    pub token: Secret,
    pub expires_at: String,
    #[serde(default)]
    pub permissions: BTreeMap<String, String>,
    #[serde(default)]
    pub repository_selection: Option<String>,
    #[serde(default)]
    pub repositories: Vec<RepositoryName>,
}

#[derive(Debug, Deserialize)]
pub struct RepositoryName {
    pub name: String,
}

#[derive(Debug, serde::Serialize)]
pub struct TokenRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repositories: Option<Vec<String>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub permissions: BTreeMap<&'static str, &'static str>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Revoked {
    Now,
    /// 401: the token had already been revoked or had expired; nothing is left to do.
    AlreadyInvalid,
}

/// https://docs.github.com/rest/apps/apps#get-a-repository-installation-for-the-authenticated-app
/// https://docs.github.com/rest/apps/apps#get-a-user-installation-for-the-authenticated-app
pub async fn find_installation(
    http: &Http,
    api: &BaseUrl,
    jwt: &Secret,
    issuer: &Issuer,
    target: &InstallationTarget,
) -> Result<Installation, GitHubError> {
    let path = target.lookup_path();
    let response = http
        .send(&Request {
            method: Method::GET,
            url: api.join(&path),
            auth: Some(Auth::Bearer(jwt)),
            body: None,
        })
        .await?;
    match response.status {
        StatusCode::OK => parse(&response, "looking up the installation"),
        StatusCode::UNAUTHORIZED => Err(GitHubError::AppAuthRejected {
            issuer: issuer.to_string(),
            message: github_message(&response),
        }),
        StatusCode::NOT_FOUND => Err(GitHubError::NotInstalled {
            target: target.describe(),
            path,
        }),
        _ => Err(status_error("looking up the installation", &response)),
    }
}

/// https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app
pub async fn create_installation_token(
    http: &Http,
    api: &BaseUrl,
    jwt: &Secret,
    issuer: &Issuer,
    installation_id: u64,
    request: &TokenRequest,
) -> Result<IssuedToken, GitHubError> {
    let body = serde_json::to_value(request).map_err(|error| GitHubError::BadResponse {
        what: "creating the token",
        cause: error.to_string(),
    })?;
    let response = http
        .send(&Request {
            method: Method::POST,
            url: api.join(&format!(
                "/app/installations/{installation_id}/access_tokens"
            )),
            auth: Some(Auth::Bearer(jwt)),
            body: Some(body),
        })
        .await?;
    match response.status {
        StatusCode::CREATED | StatusCode::OK => {
            let issued: IssuedToken = parse(&response, "creating the token")?;
            if issued.token.is_empty() {
                return Err(GitHubError::BadResponse {
                    what: "creating the token",
                    cause: "the token is empty".to_owned(),
                });
            }
            Ok(issued)
        }
        StatusCode::UNAUTHORIZED => Err(GitHubError::AppAuthRejected {
            issuer: issuer.to_string(),
            message: github_message(&response),
        }),
        StatusCode::UNPROCESSABLE_ENTITY => Err(GitHubError::TokenRefused {
            message: github_message(&response),
        }),
        _ => Err(status_error("creating the token", &response)),
    }
}

/// https://docs.github.com/rest/apps/installations#revoke-an-installation-access-token
pub async fn revoke_installation_token(
    http: &Http,
    api: &BaseUrl,
    token: &Secret,
) -> Result<Revoked, GitHubError> {
    let response = http
        .send(&Request {
            method: Method::DELETE,
            url: api.join("/installation/token"),
            auth: Some(Auth::Token(token)),
            body: None,
        })
        .await?;
    match response.status {
        StatusCode::NO_CONTENT => Ok(Revoked::Now),
        StatusCode::UNAUTHORIZED => Ok(Revoked::AlreadyInvalid),
        _ => Err(status_error("revoking the token", &response)),
    }
}

fn parse<T: serde::de::DeserializeOwned>(
    response: &Response,
    what: &'static str,
) -> Result<T, GitHubError> {
    // The body is not logged: a token response carries the token. serde's message names
    // the field and position, never the value.
    serde_json::from_slice(&response.body).map_err(|error| GitHubError::BadResponse {
        what,
        cause: error.to_string(),
    })
}

fn status_error(what: &'static str, response: &Response) -> GitHubError {
    GitHubError::Status {
        what,
        status: response.status.as_u16(),
        message: github_message(response),
    }
}

/// GitHub's own words from an error body, with the `errors[]` details of a 422. Error
/// bodies never carry credentials, so they may be shown; anything else is only described.
pub fn github_message(response: &Response) -> String {
    tracing::debug!(
        status = %response.status,
        body = %String::from_utf8_lossy(&response.body),
        "error response"
    );
    #[derive(Deserialize)]
    struct ErrorBody {
        message: Option<String>,
        #[serde(default)]
        errors: Vec<serde_json::Value>,
    }
    match serde_json::from_slice::<ErrorBody>(&response.body) {
        Ok(ErrorBody {
            message: Some(message),
            errors,
        }) => {
            let details: Vec<String> = errors
                .iter()
                .map(|error| match error {
                    serde_json::Value::String(text) => text.clone(),
                    other => other
                        .get("message")
                        .and_then(|message| message.as_str())
                        .map(str::to_owned)
                        .unwrap_or_else(|| other.to_string()),
                })
                .collect();
            let message = message.trim().to_owned();
            if details.is_empty() {
                message
            } else {
                format!("{message} ({})", details.join("; "))
            }
        }
        _ if response.body.is_empty() => "no message".to_owned(),
        _ => format!(
            "a {}-byte body that is not GitHub's error JSON",
            response.body.len()
        ),
    }
}
