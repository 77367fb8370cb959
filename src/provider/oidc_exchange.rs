//! Keyless: the job's OIDC token, exchanged at an STS speaking the octo-sts protocol for an
//! installation token. No app key ever sits in the repository's secrets.

use http::{Method, StatusCode};
use serde::Deserialize;

use crate::config::StsSource;
use crate::credential::{Credential, Origin, RepositoryScope};
use crate::error::Error;
use crate::http::{Auth, Http, HttpError, Request};
use crate::runner::{JobContext, Runner};
use crate::secret::Secret;

#[derive(Debug, thiserror::Error)]
pub enum StsError {
    #[error("the job has no OIDC token to offer (ACTIONS_ID_TOKEN_REQUEST_URL is not set)")]
    NoOidc,
    #[error("the runner refused to issue an OIDC token (HTTP {status})")]
    OidcRefused { status: u16 },
    #[error("the runner's OIDC answer has no token ({cause})")]
    OidcBadResponse { cause: String },
    #[error("the STS at {sts} refused scope `{scope}` with identity `{identity}` (HTTP {status}{}): {message}", code.map(|code| format!(", code {code}")).unwrap_or_default())]
    Refused {
        sts: String,
        scope: String,
        identity: String,
        status: u16,
        code: Option<i64>,
        message: String,
    },
    #[error("the STS at {sts} answered without a token ({cause})")]
    BadResponse { sts: String, cause: String },
    #[error(transparent)]
    Http(#[from] HttpError),
}

/// https://docs.github.com/actions/reference/security/oidc (the toolkit's `getIDToken`),
/// then octo-sts's `GET /sts/exchange`.
pub async fn mint(
    runner: &mut Runner,
    http: &Http,
    sts: &StsSource,
    job: &JobContext,
) -> Result<Credential, Error> {
    let oidc = request_oidc_token(http, job, &sts.audience).await?;
    // The runner does not mask the OIDC token; nothing may print it before this.
    runner.mask(&oidc);
    let url = format!(
        "{}?scope={}&identity={}",
        sts.sts.join("/sts/exchange"),
        percent_encode(&sts.scope),
        percent_encode(&sts.identity)
    );
    let response = http
        .send(&Request {
            method: Method::GET,
            url,
            auth: Some(Auth::Bearer(&oidc)),
            body: None,
        })
        .await?;
    if response.status != StatusCode::OK {
        #[derive(Deserialize)]
        struct StsErrorBody {
            code: Option<i64>,
            message: Option<String>,
        }
        tracing::debug!(status = %response.status, body = %String::from_utf8_lossy(&response.body), "STS refused");
        let body = serde_json::from_slice::<StsErrorBody>(&response.body).ok();
        return Err(StsError::Refused {
            sts: sts.sts.as_str().to_owned(),
            scope: sts.scope.clone(),
            identity: sts.identity.clone(),
            status: response.status.as_u16(),
            code: body.as_ref().and_then(|body| body.code),
            message: body
                .and_then(|body| body.message)
                .unwrap_or_else(|| "no message".to_owned()),
        }
        .into());
    }
    #[derive(Deserialize)]
    struct Exchanged {
        token: Secret,
    }
    let exchanged: Exchanged =
        serde_json::from_slice(&response.body).map_err(|error| StsError::BadResponse {
            sts: sts.sts.as_str().to_owned(),
            cause: error.to_string(),
        })?;
    if exchanged.token.is_empty() {
        return Err(StsError::BadResponse {
            sts: sts.sts.as_str().to_owned(),
            cause: "the token is empty".to_owned(),
        }
        .into());
    }
    let owner = sts.scope.split('/').next().unwrap_or_default().to_owned();
    let repositories = match sts.scope.split_once('/') {
        Some((_, repository)) => RepositoryScope::Selected(vec![repository.to_owned()]),
        None => RepositoryScope::Unknown,
    };
    Ok(Credential {
        token: exchanged.token,
        expires_at: None,
        origin: Origin::Sts {
            sts_url: sts.sts.as_str().to_owned(),
            scope: sts.scope.clone(),
            identity: sts.identity.clone(),
        },
        owner,
        repositories,
        permissions: None,
    })
}

async fn request_oidc_token(
    http: &Http,
    job: &JobContext,
    audience: &str,
) -> Result<Secret, StsError> {
    let (Some(url), Some(request_token)) = (&job.oidc_request_url, &job.oidc_request_token) else {
        return Err(StsError::NoOidc);
    };
    // The runner's URL already carries a query string.
    let separator = if url.contains('?') { '&' } else { '?' };
    let response = http
        .send(&Request {
            method: Method::GET,
            url: format!("{url}{separator}audience={}", percent_encode(audience)),
            auth: Some(Auth::Bearer(request_token)),
            body: None,
        })
        .await?;
    if response.status != StatusCode::OK {
        return Err(StsError::OidcRefused {
            status: response.status.as_u16(),
        });
    }
    #[derive(Deserialize)]
    struct IdToken {
        value: Secret,
    }
    let token: IdToken =
        serde_json::from_slice(&response.body).map_err(|error| StsError::OidcBadResponse {
            cause: error.to_string(),
        })?;
    if token.value.is_empty() {
        return Err(StsError::OidcBadResponse {
            cause: "the token is empty".to_owned(),
        });
    }
    Ok(token.value)
}

/// Query-string encoding of everything but unreserved characters.
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (byte as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_query_values() {
        assert_eq!(percent_encode("octo-org/api"), "octo-org%2Fapi");
        assert_eq!(
            percent_encode("https://a.b/c d"),
            "https%3A%2F%2Fa.b%2Fc%20d"
        );
        assert_eq!(percent_encode("plain_name.v1~"), "plain_name.v1~");
    }
}
