//! App JWT -> installation -> scoped installation token: exactly two requests.

use crate::config::AppSource;
use crate::credential::{Credential, Origin, RepositoryScope};
use crate::error::Error;
use crate::github::{self, TokenRequest};
use crate::http::{BaseUrl, Http};
use crate::permissions::PermissionSet;

pub async fn mint(
    http: &Http,
    api: &BaseUrl,
    app: &AppSource,
    permissions: &PermissionSet,
) -> Result<Credential, Error> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let jwt = app.key.sign_jwt(&app.issuer, now)?;
    let installation = github::find_installation(http, api, &jwt, &app.issuer, &app.target).await?;
    let request = TokenRequest {
        repositories: app.target.repositories(),
        permissions: permissions
            .iter()
            .map(|(name, level)| (*name, level.as_str()))
            .collect(),
    };
    let issued =
        github::create_installation_token(http, api, &jwt, &app.issuer, installation.id, &request)
            .await?;
    let repositories = if issued.repository_selection.as_deref() == Some("all") {
        RepositoryScope::All
    } else if !issued.repositories.is_empty() {
        RepositoryScope::Selected(
            issued
                .repositories
                .iter()
                .map(|repo| repo.name.clone())
                .collect(),
        )
    } else {
        match request.repositories {
            Some(names) => RepositoryScope::Selected(names),
            None => RepositoryScope::All,
        }
    };
    let owner = installation
        .account
        .and_then(|account| account.login)
        .unwrap_or_else(|| app.target.owner().to_owned());
    Ok(Credential {
        token: issued.token,
        expires_at: Some(issued.expires_at),
        origin: Origin::App {
            app_slug: installation.app_slug,
            installation_id: installation.id,
            issuer: app.issuer.to_string(),
        },
        owner,
        repositories,
        permissions: Some(issued.permissions),
    })
}
