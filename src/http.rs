//! The one HTTP client: octocrab's hyper + rustls stack, driven through its raw request API
//! so that every status, header and body byte is ours to judge, with bounded retries and an
//! overall deadline so a dead or slow API cannot hang a job.

use std::time::Duration;

use http::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, RETRY_AFTER, USER_AGENT};
use http::{Method, StatusCode};
use http_body_util::BodyExt as _;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use octocrab::{AuthState, OctoBody, Octocrab, OctocrabBuilder};
use tokio::time::Instant;
use zeroize::Zeroizing;

use crate::secret::Secret;

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("could not set up the HTTP client: {0}")]
    Setup(String),
    #[error("{url} did not answer after {attempts} attempt(s) within {seconds} s: {cause}")]
    Unreachable {
        url: String,
        attempts: u32,
        seconds: u64,
        cause: String,
    },
    #[error("`{0}` is not a valid URL")]
    BadUrl(String),
}

/// Names this client in GitHub's audit log, so security teams can tell its requests apart.
pub const USER_AGENT_VALUE: &str = concat!("token-lease/", env!("CARGO_PKG_VERSION"));

/// How hard to try: attempts, backoff, and the step's overall deadline.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub first_delay: Duration,
    pub max_delay: Duration,
    pub attempt_timeout: Duration,
    pub deadline: Instant,
}

impl RetryPolicy {
    /// Four attempts, 0.5 s doubling to at most 8 s, each attempt at most 20 s, all within
    /// `budget`.
    pub fn within(budget: Duration) -> Self {
        RetryPolicy {
            attempts: 4,
            first_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            attempt_timeout: Duration::from_secs(20),
            deadline: Instant::now() + budget,
        }
    }
}

/// A request: absolute URL, optional credential and JSON body.
pub struct Request<'a> {
    pub method: Method,
    pub url: String,
    pub auth: Option<Auth<'a>>,
    pub body: Option<serde_json::Value>,
}

#[derive(Clone, Copy)]
pub enum Auth<'a> {
    Bearer(&'a Secret),
    Token(&'a Secret),
}

/// A response whose body is wiped when dropped: a token response carries the token.
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Zeroizing<Vec<u8>>,
}

pub struct Http {
    client: Octocrab,
    policy: RetryPolicy,
}

impl Http {
    /// Must be called inside the tokio runtime (the connector spawns on it).
    ///
    /// The connector is built here rather than by octocrab's default client so that every
    /// header is ours: octocrab's adds a second `User-Agent: octocrab`. TLS is rustls with ring,
    /// trusting the OS root store (which honours `SSL_CERT_FILE`, for GHES with a private CA).
    pub fn new(policy: RetryPolicy) -> Result<Http, HttpError> {
        let mut tcp = HttpConnector::new();
        tcp.set_connect_timeout(Some(Duration::from_secs(10)));
        tcp.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::ring::default_provider())
            .map_err(|error| HttpError::Setup(format!("no usable root certificates: {error}")))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let service = Client::builder(TokioExecutor::new()).build::<_, OctoBody>(connector);
        let client = OctocrabBuilder::new_empty()
            .with_service(service)
            .with_auth(AuthState::None)
            .build()
            .map_err(|error| HttpError::Setup(error.to_string()))?;
        Ok(Http { client, policy })
    }

    /// Sends with retries on network errors, timeouts, 5xx and rate limiting (429, or 403
    /// with `Retry-After` / an exhausted `x-ratelimit-remaining`); any other answer is
    /// returned as is for the caller to judge. `Retry-After` is honoured when it fits in the
    /// deadline; otherwise the last answer is returned rather than waiting past it.
    pub async fn send(&self, request: &Request<'_>) -> Result<Response, HttpError> {
        let started = Instant::now();
        let mut delay = self.policy.first_delay;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let remaining = self
                .policy
                .deadline
                .saturating_duration_since(Instant::now());
            let outcome = tokio::time::timeout(
                remaining.min(self.policy.attempt_timeout),
                self.once(request),
            )
            .await;
            let last_try = attempt >= self.policy.attempts;
            let wait = match outcome {
                Ok(Ok(response)) => {
                    let Some(wait) = retry_wait(&response, delay) else {
                        return Ok(response);
                    };
                    tracing::debug!(status = %response.status, attempt, "retryable answer");
                    if last_try || !self.fits(wait) {
                        return Ok(response);
                    }
                    wait
                }
                Ok(Err(Failure(cause))) => {
                    self.give_up_or_wait(request, started, attempt, cause, delay)?
                }
                Err(_elapsed) => self.give_up_or_wait(
                    request,
                    started,
                    attempt,
                    "timed out waiting for an answer".to_owned(),
                    delay,
                )?,
            };
            tokio::time::sleep(wait).await;
            delay = (delay * 2).min(self.policy.max_delay);
        }
    }

    fn give_up_or_wait(
        &self,
        request: &Request<'_>,
        started: Instant,
        attempt: u32,
        cause: String,
        delay: Duration,
    ) -> Result<Duration, HttpError> {
        tracing::debug!(attempt, %cause, "request failed");
        if attempt >= self.policy.attempts || !self.fits(delay) {
            return Err(HttpError::Unreachable {
                url: strip_query(&request.url),
                attempts: attempt,
                seconds: started.elapsed().as_secs_f64().ceil() as u64,
                cause,
            });
        }
        Ok(delay)
    }

    fn fits(&self, wait: Duration) -> bool {
        Instant::now() + wait < self.policy.deadline
    }

    async fn once(&self, request: &Request<'_>) -> Result<Response, Failure> {
        let uri: http::Uri = request.url.parse().map_err(|_| {
            Failure(format!(
                "`{}` is not a valid URL",
                strip_query(&request.url)
            ))
        })?;
        let mut builder = http::Request::builder()
            .method(request.method.clone())
            .uri(uri)
            .header(USER_AGENT, USER_AGENT_VALUE)
            .header(ACCEPT, "application/vnd.github+json");
        if let Some(auth) = request.auth {
            builder = builder.header(AUTHORIZATION, auth_header(auth)?);
        }
        let http_request = self
            .client
            .build_request(builder, request.body.as_ref())
            .map_err(|error| Failure(error_chain(&error)))?;
        let response = self
            .client
            .execute(http_request)
            .await
            .map_err(|error| Failure(error_chain(&error)))?;
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|error| {
                Failure(format!(
                    "the response body broke off: {}",
                    error_chain(&error)
                ))
            })?
            .to_bytes();
        Ok(Response {
            status: parts.status,
            headers: parts.headers,
            body: Zeroizing::new(body.to_vec()),
        })
    }
}

struct Failure(String);

/// The header value is built in wiped memory and marked sensitive, so hyper and any
/// `Debug` of the request print it as `Sensitive`.
fn auth_header(auth: Auth<'_>) -> Result<HeaderValue, Failure> {
    let (scheme, secret) = match auth {
        Auth::Bearer(secret) => ("Bearer", secret),
        Auth::Token(secret) => ("token", secret),
    };
    let text = Zeroizing::new(format!("{scheme} {}", secret.expose()));
    let mut value = HeaderValue::from_str(&text).map_err(|_| {
        Failure("a credential contains characters not allowed in an HTTP header".to_owned())
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// How long to wait before trying again, or `None` when this answer is final.
fn retry_wait(response: &Response, backoff: Duration) -> Option<Duration> {
    let status = response.status;
    let header = |name: &str| {
        response
            .headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
    };
    let retry_after = header(RETRY_AFTER.as_str()).and_then(|value| value.parse::<u64>().ok());
    let rate_limited = status == StatusCode::TOO_MANY_REQUESTS
        || (status == StatusCode::FORBIDDEN
            && (retry_after.is_some() || header("x-ratelimit-remaining") == Some("0")));
    if !(status.is_server_error() || rate_limited) {
        return None;
    }
    if let Some(seconds) = retry_after {
        return Some(Duration::from_secs(seconds));
    }
    if status == StatusCode::FORBIDDEN {
        // Primary rate limit: wait for the reset GitHub announced.
        let reset = header("x-ratelimit-reset").and_then(|value| value.parse::<i64>().ok())?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        return Some(Duration::from_secs(
            u64::try_from(reset - now).unwrap_or(0).max(1),
        ));
    }
    Some(backoff)
}

/// The whole cause chain of an error on one line ("client error (Connect): tcp connect
/// error: Connection refused"), since the top-level message alone rarely says what happened.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

/// A URL for messages: the query string can carry parameters we'd rather not repeat.
pub fn strip_query(url: &str) -> String {
    url.split('?').next().unwrap_or(url).to_owned()
}

/// A validated base URL (`https://api.github.com`, `https://ghes.example/api/v3`) that joins
/// API paths by appending them, so a GHES path prefix is kept for every call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseUrl(String);

impl BaseUrl {
    pub fn parse(text: &str) -> Result<BaseUrl, HttpError> {
        let trimmed = text.trim().trim_end_matches('/');
        let uri: http::Uri = trimmed
            .parse()
            .map_err(|_| HttpError::BadUrl(text.trim().to_owned()))?;
        let scheme_ok = matches!(uri.scheme_str(), Some("https") | Some("http"));
        if !scheme_ok || uri.host().is_none() || uri.query().is_some() {
            return Err(HttpError::BadUrl(text.trim().to_owned()));
        }
        Ok(BaseUrl(trimmed.to_owned()))
    }

    pub fn join(&self, path: &str) -> String {
        format!("{}{path}", self.0)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn host(&self) -> String {
        self.0
            .parse::<http::Uri>()
            .ok()
            .and_then(|uri| uri.host().map(str::to_owned))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    // Test tables spell their row types out in full.
    #![allow(clippy::type_complexity, clippy::unwrap_used)]
    use super::*;

    #[test]
    fn base_urls_keep_their_path() {
        let cases = [
            ("https://api.github.com", "https://api.github.com/app"),
            ("https://api.github.com/", "https://api.github.com/app"),
            (
                "https://ghes.example.com/api/v3",
                "https://ghes.example.com/api/v3/app",
            ),
            (
                "https://ghes.example.com/api/v3/",
                "https://ghes.example.com/api/v3/app",
            ),
            ("http://127.0.0.1:8080/api", "http://127.0.0.1:8080/api/app"),
        ];
        for (base, joined) in cases {
            assert_eq!(BaseUrl::parse(base).unwrap().join("/app"), joined);
        }
        for bad in [
            "",
            "api.github.com",
            "ftp://x",
            "https://",
            "https://x/?a=b",
            "${{ github.api_url }}",
        ] {
            assert!(BaseUrl::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            BaseUrl::parse("https://octo-sts.dev").unwrap().host(),
            "octo-sts.dev"
        );
    }

    fn response(status: u16, headers: &[(&str, &str)]) -> Response {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        Response {
            status: StatusCode::from_u16(status).unwrap(),
            headers: map,
            body: Zeroizing::new(Vec::new()),
        }
    }

    #[test]
    fn which_answers_are_retried() {
        let backoff = Duration::from_millis(500);
        let cases: &[(u16, &[(&str, &str)], Option<Duration>)] = &[
            (200, &[], None),
            (201, &[], None),
            (401, &[], None),
            (404, &[], None),
            (422, &[], None),
            (403, &[], None),
            (500, &[], Some(backoff)),
            (502, &[], Some(backoff)),
            (503, &[("retry-after", "3")], Some(Duration::from_secs(3))),
            (429, &[], Some(backoff)),
            (429, &[("retry-after", "7")], Some(Duration::from_secs(7))),
            (403, &[("retry-after", "2")], Some(Duration::from_secs(2))),
        ];
        for (status, headers, expected) in cases {
            assert_eq!(
                retry_wait(&response(*status, headers), backoff),
                *expected,
                "{status} {headers:?}"
            );
        }
        let reset = (time::OffsetDateTime::now_utc().unix_timestamp() + 5).to_string();
        let wait = retry_wait(
            &response(
                403,
                &[
                    ("x-ratelimit-remaining", "0"),
                    ("x-ratelimit-reset", &reset),
                ],
            ),
            backoff,
        )
        .unwrap();
        assert!(wait >= Duration::from_secs(4) && wait <= Duration::from_secs(5));
    }
}
