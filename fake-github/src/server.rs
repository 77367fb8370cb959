//! The HTTP side: one catch-all handler that routes by hand, so the path prefix, the fault
//! queue and the request log apply uniformly to every route, including unknown ones.

use std::collections::BTreeMap;
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use regex::Regex;
use ring::signature::RsaKeyPair;
use serde_json::{json, Map, Value};

use crate::crypto::{self, Jwt, JwtError};
use crate::schema;
use crate::{
    lock, AccountType, FakeConfig, Fault, InstallationConfig, IssuedToken, RecordedRequest,
    RepositorySelection, Route, Shared, SharedState, TokenFormat, TrustPolicy,
};

const DOCS: &str = "https://docs.github.com/rest";
const API_VERSION: &str = "2022-11-28";
const MEDIA_TYPE: &str = "application/vnd.github+json";
const MAX_BODY: usize = 1 << 20;
const MAX_REPOSITORIES: usize = 500;
const TOKEN_LIFETIME_SECS: i64 = 3600;
const OIDC_LIFETIME_SECS: i64 = 300;

const CREATE_TOKEN_OP: &str = "apps/create-installation-access-token";
const GET_INSTALLATION_OP: &str = "apps/get-repo-installation";
const GET_APP_OP: &str = "apps/get-authenticated";

pub(crate) struct TokenRecord {
    pub issued: IssuedToken,
    expires_unix: i64,
}

pub(crate) struct App {
    config: FakeConfig,
    addr: SocketAddr,
    shared: SharedState,
    app_public_key: Vec<u8>,
    oidc_key: RsaKeyPair,
    oidc_public_key: Vec<u8>,
    oidc_kid: String,
}

impl App {
    pub fn new(config: FakeConfig, addr: SocketAddr, shared: SharedState) -> Result<App, String> {
        let app_public_key = crypto::public_key(&config.app.private_key_pem)
            .map_err(|err| format!("app.private_key_pem: {err}"))?;
        let oidc_key = crypto::key_pair(&config.oidc.signing_key_pkcs8_pem)
            .map_err(|err| format!("oidc.signing_key_pkcs8_pem: {err}"))?;
        let oidc_public_key = oidc_key.public().as_ref().to_vec();
        let oidc_kid = crypto::key_id(&oidc_public_key);
        Ok(App {
            config,
            addr,
            shared,
            app_public_key,
            oidc_key,
            oidc_public_key,
            oidc_kid,
        })
    }

    fn now(&self) -> i64 {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs());
        i64::try_from(real)
            .unwrap_or(i64::MAX)
            .saturating_add(self.config.clock_skew_secs)
    }

    fn api_url(&self) -> String {
        format!(
            "http://{}{}",
            self.addr,
            self.config.path_prefix.trim_end_matches('/')
        )
    }
}

pub(crate) fn run(
    listener: std::net::TcpListener,
    app: App,
    stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    runtime.block_on(async move {
        let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
            return;
        };
        let router = Router::new().fallback(handle).with_state(Arc::new(app));
        tokio::select! {
            _ = axum::serve(listener, router).into_future() => {}
            _ = stopped => {}
        }
    });
    // Dropping the runtime cancels every connection task, hung ones included, so shutdown
    // never waits on a `Fault::Hang`.
    drop(runtime);
}

/// A response before it becomes an HTTP one, so handlers stay plain functions.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub content_type: Option<&'static str>,
    pub body: Vec<u8>,
}

impl Reply {
    fn json(status: u16, value: &Value) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            content_type: Some("application/json; charset=utf-8"),
            body: value.to_string().into_bytes(),
        }
    }

    fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            content_type: None,
            body: Vec::new(),
        }
    }

    fn github_error(status: u16, message: &str) -> Reply {
        Reply::json(
            status,
            &json!({"message": message, "documentation_url": DOCS, "status": status.to_string()}),
        )
    }

    fn sts_error(status: u16, code: u16, message: &str) -> Reply {
        Reply::json(
            status,
            &json!({"code": code, "message": message, "details": []}),
        )
    }

    #[cfg(test)]
    pub fn value(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut builder = Response::builder().status(status);
        if let Some(content_type) = self.content_type {
            builder = builder.header("content-type", content_type);
        }
        for (name, value) in self.headers {
            builder = builder.header(name, value);
        }
        builder
            .body(Body::from(self.body))
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
    }
}

/// What a handler needs of a request.
pub(crate) struct Req {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Req {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// The credential of an `Authorization: <scheme> <credential>` header whose scheme is one
    /// of `schemes` (case-insensitive, as GitHub treats them).
    fn credential(&self, schemes: &[&str]) -> Option<&str> {
        let value = self.header("authorization")?.trim();
        let (scheme, credential) = value.split_once(' ')?;
        schemes
            .iter()
            .any(|wanted| scheme.eq_ignore_ascii_case(wanted))
            .then(|| credential.trim())
            .filter(|credential| !credential.is_empty())
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Endpoint {
    GetApp,
    RepoInstallation(String, String),
    OrgInstallation(String),
    UserInstallation(String),
    GetInstallation(String),
    CreateToken(String),
    Revoke,
    ListRepositories,
    OidcToken,
    StsExchange,
    NotFound,
    /// Outside the path prefix (GHES layout) or nowhere at all.
    Unknown,
}

impl Endpoint {
    fn route(&self) -> Option<Route> {
        match self {
            Endpoint::RepoInstallation(..)
            | Endpoint::OrgInstallation(_)
            | Endpoint::UserInstallation(_) => Some(Route::InstallationLookup),
            Endpoint::CreateToken(_) => Some(Route::CreateToken),
            Endpoint::Revoke => Some(Route::Revoke),
            Endpoint::ListRepositories => Some(Route::ListRepositories),
            Endpoint::OidcToken => Some(Route::OidcToken),
            Endpoint::StsExchange => Some(Route::StsExchange),
            _ => None,
        }
    }

    fn is_github_api(&self) -> bool {
        !matches!(
            self,
            Endpoint::OidcToken | Endpoint::StsExchange | Endpoint::Unknown
        )
    }
}

fn classify(prefix: &str, method: &str, path: &str) -> Endpoint {
    match (method, path) {
        ("GET", "/_actions/idtoken") => return Endpoint::OidcToken,
        ("GET", "/sts/exchange") => return Endpoint::StsExchange,
        _ => {}
    }
    let prefix = prefix.trim_end_matches('/');
    let Some(rest) = path.strip_prefix(prefix) else {
        return Endpoint::Unknown;
    };
    let Some(rest) = rest.strip_prefix('/') else {
        return Endpoint::Unknown;
    };
    let segments: Vec<&str> = rest.split('/').collect();
    let owned = |segment: &&str| (*segment).to_owned();
    match (method, segments.as_slice()) {
        ("GET", ["app"]) => Endpoint::GetApp,
        ("GET", ["repos", owner, repo, "installation"]) => {
            Endpoint::RepoInstallation(owned(owner), owned(repo))
        }
        ("GET", ["orgs", org, "installation"]) => Endpoint::OrgInstallation(owned(org)),
        ("GET", ["users", user, "installation"]) => Endpoint::UserInstallation(owned(user)),
        ("GET", ["app", "installations", id]) => Endpoint::GetInstallation(owned(id)),
        ("POST", ["app", "installations", id, "access_tokens"]) => Endpoint::CreateToken(owned(id)),
        ("DELETE", ["installation", "token"]) => Endpoint::Revoke,
        ("GET", ["installation", "repositories"]) => Endpoint::ListRepositories,
        _ => Endpoint::NotFound,
    }
}

async fn handle(State(app): State<Arc<App>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, MAX_BODY).await;
    let mut record = RecordedRequest {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: None,
        status: 0,
    };
    let Ok(body) = body else {
        let reply = Reply::github_error(413, "Request body too large or unreadable");
        record.status = reply.status;
        lock(&app.shared).requests.push(record);
        return reply.into_response();
    };
    record.body = recorded_body(&body);
    let req = Req {
        method: record.method.clone(),
        path: record.path.clone(),
        query: query_pairs(&parts.uri),
        headers: parts.headers,
        body,
    };
    let endpoint = classify(&app.config.path_prefix, &req.method, &req.path);
    let fault = endpoint.route().and_then(|route| {
        lock(&app.shared)
            .faults
            .get_mut(&route)
            .and_then(|queue| queue.pop_front())
            .map(|fault| (route, fault))
    });
    let reply = match fault {
        Some((_, Fault::Hang)) => {
            // Recorded now: the client gives up long before this would be answered.
            lock(&app.shared).requests.push(record);
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return Reply::github_error(504, "Gateway Timeout").into_response();
        }
        Some((route, fault)) => fault_reply(&app, route, fault),
        None => app.dispatch(&endpoint, &req),
    };
    record.status = reply.status;
    lock(&app.shared).requests.push(record);
    reply.into_response()
}

fn recorded_body(body: &Bytes) -> Option<Value> {
    if body.is_empty() {
        return None;
    }
    Some(
        serde_json::from_slice(body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned())),
    )
}

fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map(|Query(pairs)| pairs)
        .unwrap_or_default()
}

fn fault_reply(app: &App, route: Route, fault: Fault) -> Reply {
    let success = if route == Route::CreateToken {
        201
    } else {
        200
    };
    match fault {
        Fault::Status {
            status,
            retry_after,
            body,
        } => {
            let status = if (200..=599).contains(&status) {
                status
            } else {
                500
            };
            let mut reply = match body {
                _ if status == 204 || status == 304 => Reply::empty(status),
                Some(body) => Reply {
                    status,
                    headers: Vec::new(),
                    content_type: Some("application/json; charset=utf-8"),
                    body: body.into_bytes(),
                },
                None => Reply::github_error(status, &fault_message(status, retry_after)),
            };
            if let Some(seconds) = retry_after {
                reply.headers.push(("retry-after", seconds.to_string()));
            }
            if status == 429 || (status == 403 && retry_after.is_some()) {
                let reset = app.now() + i64::try_from(retry_after.unwrap_or(60)).unwrap_or(60);
                reply.headers.extend([
                    ("x-ratelimit-limit", "5000".to_owned()),
                    ("x-ratelimit-remaining", "0".to_owned()),
                    ("x-ratelimit-used", "5000".to_owned()),
                    ("x-ratelimit-reset", reset.to_string()),
                    ("x-ratelimit-resource", "core".to_owned()),
                ]);
            }
            reply
        }
        Fault::NotJson => Reply {
            status: success,
            headers: Vec::new(),
            content_type: Some("text/html; charset=utf-8"),
            body: b"<!DOCTYPE html>\n<html><head><title>Unicorn! &middot; GitHub</title></head>\
                    <body><p>No server is currently available to service your request.</p>\
                    </body></html>\n"
                .to_vec(),
        },
        Fault::Truncated => Reply {
            status: success,
            headers: Vec::new(),
            content_type: Some("application/json; charset=utf-8"),
            body: br#"{"token":"ghs_16C7e42F292c6912E7710c8","expires_at":"2016-07-11T22:"#
                .to_vec(),
        },
        Fault::Hang => Reply::github_error(504, "Gateway Timeout"),
    }
}

fn fault_message(status: u16, retry_after: Option<u64>) -> String {
    match status {
        401 => "Bad credentials".to_owned(),
        403 if retry_after.is_some() => {
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.".to_owned()
        }
        403 => "Resource not accessible by integration".to_owned(),
        404 => "Not Found".to_owned(),
        422 => "Validation Failed".to_owned(),
        429 => "API rate limit exceeded for installation.".to_owned(),
        500 => "Server Error".to_owned(),
        _ => StatusCode::from_u16(status)
            .ok()
            .and_then(|status| status.canonical_reason())
            .unwrap_or("Error")
            .to_owned(),
    }
}

/// An error of the GitHub API, rendered GitHub's way.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: u16,
    message: String,
    errors: Option<Value>,
}

impl ApiError {
    fn new(status: u16, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            errors: None,
        }
    }

    fn not_found() -> ApiError {
        ApiError::new(404, "Not Found")
    }

    fn reply(&self) -> Reply {
        let mut body = json!({
            "message": self.message,
            "documentation_url": DOCS,
            "status": self.status.to_string(),
        });
        if let Some(errors) = &self.errors {
            body["errors"] = errors.clone();
        }
        Reply::json(self.status, &body)
    }
}

const NOT_GRANTED: &str = "The permissions requested are not granted to this installation.";
const NOT_ACCESSIBLE: &str = "There is at least one repository that does not exist or is not accessible to the parent installation.";

fn level_rank(level: &str) -> u8 {
    match level {
        "read" => 1,
        "write" => 2,
        "admin" => 3,
        _ => u8::MAX,
    }
}

impl App {
    fn dispatch(&self, endpoint: &Endpoint, req: &Req) -> Reply {
        let result = match endpoint {
            Endpoint::OidcToken => return self.oidc_token(req),
            Endpoint::StsExchange => return self.sts_exchange(req),
            Endpoint::Unknown => return Reply::github_error(404, "Not Found"),
            _ => self.github_api(endpoint, req),
        };
        let mut reply = match result {
            Ok(reply) => reply,
            Err(err) => err.reply(),
        };
        if endpoint.is_github_api() {
            let reset = (self.now() + 3600).to_string();
            reply.headers.extend([
                ("x-github-api-version-selected", API_VERSION.to_owned()),
                ("x-ratelimit-limit", "5000".to_owned()),
                ("x-ratelimit-remaining", "4999".to_owned()),
                ("x-ratelimit-used", "1".to_owned()),
                ("x-ratelimit-reset", reset),
                ("x-ratelimit-resource", "core".to_owned()),
            ]);
        }
        reply
    }

    fn github_api(&self, endpoint: &Endpoint, req: &Req) -> Result<Reply, ApiError> {
        check_headers(req)?;
        match endpoint {
            Endpoint::GetApp => {
                self.authenticate_app(req)?;
                Ok(Reply::json(200, &self.app_json()))
            }
            Endpoint::RepoInstallation(owner, repo) => {
                self.authenticate_app(req)?;
                self.installation_reply(|inst| {
                    inst.account.eq_ignore_ascii_case(owner)
                        && (inst.selection == RepositorySelection::All
                            || inst
                                .repositories
                                .iter()
                                .any(|name| name.eq_ignore_ascii_case(repo)))
                })
            }
            Endpoint::OrgInstallation(org) => {
                self.authenticate_app(req)?;
                self.installation_reply(|inst| {
                    inst.account_type == AccountType::Organization
                        && inst.account.eq_ignore_ascii_case(org)
                })
            }
            Endpoint::UserInstallation(user) => {
                self.authenticate_app(req)?;
                // GitHub answers the users form for organisations too.
                self.installation_reply(|inst| inst.account.eq_ignore_ascii_case(user))
            }
            Endpoint::GetInstallation(id) => {
                self.authenticate_app(req)?;
                let installation = self.installation_by_id(id)?;
                Ok(Reply::json(200, &self.installation_json(installation)))
            }
            Endpoint::CreateToken(id) => {
                self.authenticate_app(req)?;
                let installation = self.installation_by_id(id)?;
                let body = self.create_token(installation, &req.body)?;
                Ok(Reply::json(201, &body))
            }
            Endpoint::Revoke => {
                let mut shared = lock(&self.shared);
                let record = self.token_record(&mut shared, req)?;
                record.issued.revoked = true;
                Ok(Reply::empty(204))
            }
            Endpoint::ListRepositories => {
                let mut shared = lock(&self.shared);
                let record = self.token_record(&mut shared, req)?;
                let issued = record.issued.clone();
                drop(shared);
                Ok(Reply::json(200, &self.list_repositories(&issued)))
            }
            _ => Err(ApiError::not_found()),
        }
    }

    fn installation_by_id(&self, id: &str) -> Result<&InstallationConfig, ApiError> {
        let id: u64 = id.parse().map_err(|_| ApiError::not_found())?;
        self.config
            .installations
            .iter()
            .find(|inst| inst.id == id)
            .ok_or_else(ApiError::not_found)
    }

    /// Checks an app JWT the way GitHub does, in GitHub's order and with its messages.
    fn authenticate_app(&self, req: &Req) -> Result<(), ApiError> {
        const UNDECODABLE: &str = "A JSON web token could not be decoded";
        if req.header("authorization").is_none() {
            return Err(ApiError::new(401, "Requires authentication"));
        }
        let token = req
            .credential(&["bearer"])
            .ok_or_else(|| ApiError::new(401, UNDECODABLE))?;
        let jwt = Jwt::parse(token).map_err(|_| ApiError::new(401, UNDECODABLE))?;
        let app = &self.config.app;
        let known_issuer = match jwt.claims.get("iss") {
            Some(Value::Number(number)) => number.as_u64() == Some(app.id),
            Some(Value::String(iss)) => *iss == app.id.to_string() || *iss == app.client_id,
            _ => false,
        };
        if !known_issuer {
            return Err(ApiError::new(401, "Integration not found"));
        }
        jwt.verify(&self.app_public_key)
            .map_err(|_| ApiError::new(401, UNDECODABLE))?;
        let now = self.now();
        const IAT: &str =
            "'Issued at' claim ('iat') must be an Integer representing a time in the past.";
        const EXP: &str = "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires.";
        let iat = jwt
            .claims
            .get("iat")
            .and_then(Value::as_i64)
            .ok_or_else(|| ApiError::new(401, IAT))?;
        let exp = jwt
            .claims
            .get("exp")
            .and_then(Value::as_i64)
            .ok_or_else(|| ApiError::new(401, EXP))?;
        if iat > now + 60 {
            return Err(ApiError::new(401, IAT));
        }
        if exp <= now {
            return Err(ApiError::new(401, EXP));
        }
        if exp > now + 600 {
            return Err(ApiError::new(
                401,
                "'Expiration time' claim ('exp') is too far in the future",
            ));
        }
        Ok(())
    }

    /// The live token record an installation token authenticates as.
    fn token_record<'a>(
        &self,
        shared: &'a mut Shared,
        req: &Req,
    ) -> Result<&'a mut TokenRecord, ApiError> {
        if req.header("authorization").is_none() {
            return Err(ApiError::new(401, "Requires authentication"));
        }
        let token = req
            .credential(&["token", "bearer"])
            .ok_or_else(|| ApiError::new(401, "Bad credentials"))?;
        let now = self.now();
        shared
            .tokens
            .iter_mut()
            .find(|record| record.issued.token == token)
            .filter(|record| !record.issued.revoked && record.expires_unix > now)
            .ok_or_else(|| ApiError::new(401, "Bad credentials"))
    }

    fn create_token(
        &self,
        installation: &InstallationConfig,
        body: &Bytes,
    ) -> Result<Value, ApiError> {
        let body: Value = if body.iter().all(u8::is_ascii_whitespace) {
            json!({})
        } else {
            serde_json::from_slice(body).map_err(|_| ApiError::new(400, "Problems parsing JSON"))?
        };
        // The description leaves the top level open, but GitHub rejects unknown keys.
        let mut request_schema = schema::request_schema(CREATE_TOKEN_OP).clone();
        if let Value::Object(object) = &mut request_schema {
            object.insert("additionalProperties".into(), Value::Bool(false));
        }
        let mut problems = Vec::new();
        schema::validate(&request_schema, &body, "", &mut problems);
        if let Some(count) = body["repositories"].as_array().map(Vec::len) {
            if count > MAX_REPOSITORIES {
                problems.push(format!(
                    "For 'properties/repositories', the array has {count} items, more than the maximum of {MAX_REPOSITORIES}."
                ));
            }
        }
        if !problems.is_empty() {
            return Err(invalid_request(&problems));
        }
        let names = body["repositories"].as_array().map(|names| {
            names
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        });
        let ids = body["repository_ids"]
            .as_array()
            .map(|ids| ids.iter().filter_map(Value::as_u64).collect::<Vec<_>>());
        let permissions = body["permissions"].as_object().map(|permissions| {
            permissions
                .iter()
                .map(|(name, level)| (name.clone(), level.as_str().unwrap_or("").to_owned()))
                .collect::<BTreeMap<_, _>>()
        });
        let mut shared = lock(&self.shared);
        let (_, response) = self.mint(&mut shared, installation, names, ids, permissions, false)?;
        Ok(response)
    }

    /// Creates an installation token; shared by the REST endpoint and the STS exchange so
    /// both enforce the same scoping.
    fn mint(
        &self,
        shared: &mut Shared,
        installation: &InstallationConfig,
        names: Option<Vec<String>>,
        ids: Option<Vec<u64>>,
        permissions: Option<BTreeMap<String, String>>,
        via_sts: bool,
    ) -> Result<(IssuedToken, Value), ApiError> {
        let mut selected: Vec<String> = Vec::new();
        for name in names.into_iter().flatten() {
            let canonical = installation
                .repositories
                .iter()
                .find(|repo| !name.contains('/') && repo.eq_ignore_ascii_case(&name))
                .ok_or_else(|| ApiError::new(422, NOT_ACCESSIBLE))?;
            if !selected.contains(canonical) {
                selected.push(canonical.clone());
            }
        }
        for id in ids.into_iter().flatten() {
            let canonical = installation
                .repositories
                .iter()
                .enumerate()
                .find(|(index, _)| repository_id(installation, *index) == id)
                .map(|(_, name)| name)
                .ok_or_else(|| ApiError::new(422, NOT_ACCESSIBLE))?;
            if !selected.contains(canonical) {
                selected.push(canonical.clone());
            }
        }
        let repositories = (!selected.is_empty()).then_some(selected);
        let granted = match permissions {
            Some(requested) if !requested.is_empty() => {
                for (name, level) in &requested {
                    let allowed = installation
                        .permissions
                        .get(name)
                        .map(|have| level_rank(have));
                    if allowed.is_none_or(|allowed| level_rank(level) > allowed) {
                        return Err(ApiError::new(422, NOT_GRANTED));
                    }
                }
                requested
            }
            _ => installation.permissions.clone(),
        };
        let now = self.now();
        let expires_unix = now + TOKEN_LIFETIME_SECS;
        let expires_at = rfc3339(expires_unix);
        let token = self.new_token(installation, expires_unix);
        let issued = IssuedToken {
            token: token.clone(),
            installation_id: installation.id,
            permissions: granted.clone(),
            repositories: repositories.clone(),
            expires_at: expires_at.clone(),
            revoked: false,
            via_sts,
        };
        shared.tokens.push(TokenRecord {
            issued: issued.clone(),
            expires_unix,
        });
        let mut response = json!({
            "token": token,
            "expires_at": expires_at,
            "permissions": granted,
            "repository_selection": match (&repositories, installation.selection) {
                (Some(_), _) | (None, RepositorySelection::Selected) => "selected",
                (None, RepositorySelection::All) => "all",
            },
        });
        if let Some(repositories) = &repositories {
            response["repositories"] = repositories
                .iter()
                .map(|name| self.repository_json(installation, name))
                .collect();
        }
        Ok((issued, response))
    }

    fn new_token(&self, installation: &InstallationConfig, expires_unix: i64) -> String {
        match self.config.token_format {
            TokenFormat::Classic => format!("ghs_{}", crypto::random_alphanumeric(36)),
            TokenFormat::Stateless => {
                let header = json!({"alg": "RS256", "typ": "JWT", "kid": "ghs-stateless"});
                let claims = json!({
                    "iss": self.config.app.id,
                    "iid": installation.id,
                    "exp": expires_unix,
                    "jti": crypto::b64url(crypto::random_bytes(16)),
                });
                format!(
                    "ghs_{}_{}.{}.{}",
                    self.config.app.id,
                    crypto::b64url(header.to_string()),
                    crypto::b64url(claims.to_string()),
                    crypto::b64url(crypto::random_bytes(256)),
                )
            }
        }
    }

    fn list_repositories(&self, issued: &IssuedToken) -> Value {
        let Some(installation) = self
            .config
            .installations
            .iter()
            .find(|inst| inst.id == issued.installation_id)
        else {
            return json!({"total_count": 0, "repository_selection": "selected", "repositories": []});
        };
        let names = issued
            .repositories
            .clone()
            .unwrap_or_else(|| installation.repositories.clone());
        let selection = match (&issued.repositories, installation.selection) {
            (None, RepositorySelection::All) => "all",
            _ => "selected",
        };
        let repositories: Vec<Value> = names
            .iter()
            .map(|name| self.repository_json(installation, name))
            .collect();
        json!({
            "total_count": repositories.len(),
            "repository_selection": selection,
            "repositories": repositories,
        })
    }

    fn account_json(&self, installation: &InstallationConfig) -> Value {
        let schema = &schema::response_schema(GET_INSTALLATION_OP, "200")["properties"]["account"]
            ["anyOf"][0];
        let mut account = schema::placeholder(schema);
        let login = &installation.account;
        let web = format!("https://github.com/{login}");
        let api = format!("{}/users/{login}", self.api_url());
        let id = account_id(installation);
        let fields = json!({
            "login": login,
            "id": id,
            "node_id": format!("MDQ6VXNlcn{id}"),
            "type": match installation.account_type {
                AccountType::Organization => "Organization",
                AccountType::User => "User",
            },
            "site_admin": false,
            "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
            "gravatar_id": "",
            "url": api,
            "html_url": web,
            "followers_url": format!("{api}/followers"),
            "following_url": format!("{api}/following{{/other_user}}"),
            "gists_url": format!("{api}/gists{{/gist_id}}"),
            "starred_url": format!("{api}/starred{{/owner}}{{/repo}}"),
            "subscriptions_url": format!("{api}/subscriptions"),
            "organizations_url": format!("{api}/orgs"),
            "repos_url": format!("{api}/repos"),
            "events_url": format!("{api}/events{{/privacy}}"),
            "received_events_url": format!("{api}/received_events"),
        });
        merge(&mut account, fields);
        account
    }

    /// 200 with the first installation that matches, else GitHub's 404.
    fn installation_reply(
        &self,
        matches: impl Fn(&InstallationConfig) -> bool,
    ) -> Result<Reply, ApiError> {
        let installation = self
            .config
            .installations
            .iter()
            .find(|inst| matches(inst))
            .ok_or_else(ApiError::not_found)?;
        Ok(Reply::json(200, &self.installation_json(installation)))
    }

    fn installation_json(&self, installation: &InstallationConfig) -> Value {
        let schema = schema::response_schema(GET_INSTALLATION_OP, "200");
        let mut body = schema::placeholder(schema);
        let api = self.api_url();
        let fields = json!({
            "id": installation.id,
            "account": self.account_json(installation),
            "repository_selection": match installation.selection {
                RepositorySelection::All => "all",
                RepositorySelection::Selected => "selected",
            },
            "access_tokens_url": format!("{api}/app/installations/{}/access_tokens", installation.id),
            "repositories_url": format!("{api}/installation/repositories"),
            "html_url": match installation.account_type {
                AccountType::Organization => format!(
                    "https://github.com/organizations/{}/settings/installations/{}",
                    installation.account, installation.id
                ),
                AccountType::User => format!("https://github.com/settings/installations/{}", installation.id),
            },
            "app_id": self.config.app.id,
            "app_slug": self.config.app.slug,
            "client_id": self.config.app.client_id,
            "target_id": account_id(installation),
            "target_type": match installation.account_type {
                AccountType::Organization => "Organization",
                AccountType::User => "User",
            },
            "permissions": installation.permissions,
            "events": [],
            "created_at": "2024-01-15T10:00:00.000Z",
            "updated_at": "2024-06-01T12:00:00.000Z",
            "single_file_name": null,
            "has_multiple_single_files": false,
            "single_file_paths": [],
            "suspended_by": null,
            "suspended_at": null,
        });
        merge(&mut body, fields);
        body
    }

    fn app_json(&self) -> Value {
        let schema = schema::response_schema(GET_APP_OP, "200");
        let mut body = schema::placeholder(schema);
        let app = &self.config.app;
        let owner = self
            .config
            .installations
            .iter()
            .find(|inst| inst.account_type == AccountType::Organization)
            .or(self.config.installations.first())
            .map(|inst| self.account_json(inst))
            .unwrap_or(Value::Null);
        let fields = json!({
            "id": app.id,
            "slug": app.slug,
            "client_id": app.client_id,
            "node_id": format!("MDM6QXBw{}", app.id),
            "name": app.slug,
            "owner": owner,
            "description": "token-lease's fake GitHub App",
            "external_url": "https://example.com",
            "html_url": format!("https://github.com/apps/{}", app.slug),
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
            "permissions": {"metadata": "read"},
            "events": [],
            "installations_count": self.config.installations.len(),
        });
        merge(&mut body, fields);
        body
    }

    fn repository_json(&self, installation: &InstallationConfig, name: &str) -> Value {
        let schema =
            &schema::response_schema(CREATE_TOKEN_OP, "201")["properties"]["repositories"]["items"];
        let mut repo = schema::placeholder(schema);
        let index = installation
            .repositories
            .iter()
            .position(|repo| repo == name)
            .unwrap_or(0);
        let id = repository_id(installation, index);
        let full_name = format!("{}/{name}", installation.account);
        let api = format!("{}/repos/{full_name}", self.api_url());
        let fields = json!({
            "id": id,
            "node_id": format!("R_kgDO{id}"),
            "name": name,
            "full_name": full_name,
            "owner": self.account_json(installation),
            "private": true,
            "visibility": "private",
            "html_url": format!("https://github.com/{full_name}"),
            "url": api,
            "clone_url": format!("https://github.com/{full_name}.git"),
            "git_url": format!("git://github.com/{full_name}.git"),
            "ssh_url": format!("git@github.com:{full_name}.git"),
            "default_branch": "main",
        });
        merge(&mut repo, fields);
        repo
    }

    fn oidc_token(&self, req: &Req) -> Reply {
        let unauthorized = || {
            Reply::json(
                401,
                &json!({"message": "Unauthorized: ACTIONS_ID_TOKEN_REQUEST_TOKEN is missing or wrong"}),
            )
        };
        match req.credential(&["bearer"]) {
            Some(token) if token == self.config.oidc.request_token => {}
            _ => return unauthorized(),
        }
        if req.param("api-version") != Some("2.0") {
            // Catches a client that appends `?audience=` to a URL that already has a query.
            return Reply::json(
                400,
                &json!({"message": format!(
                    "api-version must be 2.0, got {:?} (query: {:?})",
                    req.param("api-version"),
                    req.query
                )}),
            );
        }
        let owner = self
            .config
            .oidc
            .claims
            .get("repository_owner")
            .and_then(Value::as_str)
            .unwrap_or(crate::ORG);
        let audience = req
            .param("audience")
            .map_or_else(|| format!("https://github.com/{owner}"), str::to_owned);
        let now = self.now();
        let mut claims = self.config.oidc.claims.clone();
        for (key, value) in [
            ("iss", json!(self.config.oidc.issuer)),
            ("aud", json!(audience)),
            ("iat", json!(now)),
            ("nbf", json!(now)),
            ("exp", json!(now + OIDC_LIFETIME_SECS)),
            ("jti", json!(crypto::b64url(crypto::random_bytes(16)))),
        ] {
            claims.insert(key.to_owned(), value);
        }
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": self.oidc_kid});
        match crypto::sign_jwt(&self.oidc_key, &header, &Value::Object(claims)) {
            Ok(jwt) => Reply::json(200, &json!({"count": 1, "value": jwt})),
            Err(err) => Reply::json(500, &json!({"message": err})),
        }
    }

    fn sts_exchange(&self, req: &Req) -> Reply {
        let (scope, identity) = match (req.param("scope"), req.param("identity")) {
            (Some(scope), Some(identity)) if !scope.is_empty() && !identity.is_empty() => {
                (scope, identity)
            }
            (None, _) | (Some(""), _) => return Reply::sts_error(400, 3, "scope must be provided"),
            _ => return Reply::sts_error(400, 3, "identity must be provided"),
        };
        let Some(bearer) = req.credential(&["bearer"]) else {
            return Reply::sts_error(401, 16, "no bearer token provided");
        };
        let claims = match self.verify_oidc(bearer) {
            Ok(claims) => claims,
            Err(why) => {
                return Reply::sts_error(401, 16, &format!("unable to verify bearer token: {why}"))
            }
        };
        let Some(policy) =
            self.config.trust_policies.iter().find(|policy| {
                policy.scope.eq_ignore_ascii_case(scope) && policy.identity == identity
            })
        else {
            return Reply::sts_error(
                404,
                5,
                &format!("unable to find trust policy for {identity:?}"),
            );
        };
        let host = req
            .header("host")
            .map(|host| host.rsplit_once(':').map_or(host, |(name, _)| name))
            .unwrap_or("127.0.0.1");
        let want = policy.audience.as_deref().unwrap_or(host);
        let audiences: Vec<&str> = match claims.get("aud") {
            Some(Value::String(aud)) => vec![aud.as_str()],
            Some(Value::Array(auds)) => auds.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !audiences.contains(&want) {
            return Reply::sts_error(
                401,
                16,
                &format!("invalid audience: got {}, want {want}", audiences.join(",")),
            );
        }
        if let Err(why) = policy_matches(policy, &claims) {
            return Reply::sts_error(403, 7, &why);
        }
        let (owner, repo) = match scope.split_once('/') {
            Some((owner, repo)) => (owner, Some(repo)),
            None => (scope, None),
        };
        let Some(installation) = self
            .config
            .installations
            .iter()
            .find(|inst| inst.account.eq_ignore_ascii_case(owner))
        else {
            return Reply::sts_error(404, 5, &format!("no installation found for {owner:?}"));
        };
        let names = match repo {
            Some(repo) => Some(vec![repo.to_owned()]),
            None => Some(policy.repositories.clone()).filter(|repos| !repos.is_empty()),
        };
        let permissions = Some(policy.permissions.clone()).filter(|perms| !perms.is_empty());
        let mut shared = lock(&self.shared);
        match self.mint(&mut shared, installation, names, None, permissions, true) {
            Ok((issued, _)) => Reply::json(200, &json!({"token": issued.token})),
            Err(err) => Reply::sts_error(
                403,
                7,
                &format!("unable to mint a token for {scope:?}: {}", err.message),
            ),
        }
    }

    fn verify_oidc(&self, token: &str) -> Result<Map<String, Value>, String> {
        let jwt = Jwt::parse(token).map_err(|err| match err {
            JwtError::Malformed(why) => format!("malformed JWT: {why}"),
            JwtError::BadSignature => "bad signature".to_owned(),
        })?;
        if let Some(kid) = jwt.header.get("kid").and_then(Value::as_str) {
            if kid != self.oidc_kid {
                return Err(format!("no key with kid {kid:?} in the issuer's JWKS"));
            }
        }
        jwt.verify(&self.oidc_public_key)
            .map_err(|_| "failed to verify signature".to_owned())?;
        let now = self.now();
        match jwt.claims.get("exp").and_then(Value::as_i64) {
            Some(exp) if exp > now => {}
            Some(_) => return Err("token is expired".to_owned()),
            None => return Err("no exp claim".to_owned()),
        }
        if let Some(nbf) = jwt.claims.get("nbf").and_then(Value::as_i64) {
            if nbf > now + 60 {
                return Err("token is not valid yet (nbf)".to_owned());
            }
        }
        Ok(jwt.claims)
    }
}

/// octo-sts checks the issuer, the subject and every claim pattern; patterns are anchored.
fn policy_matches(policy: &TrustPolicy, claims: &Map<String, Value>) -> Result<(), String> {
    let claim = |name: &str| match claims.get(name) {
        Some(Value::String(value)) => Some(value.clone()),
        Some(Value::Bool(value)) => Some(value.to_string()),
        Some(Value::Number(value)) => Some(value.to_string()),
        _ => None,
    };
    let matches = |pattern: &str, value: &str| -> Result<bool, String> {
        Regex::new(&format!("^(?:{pattern})$"))
            .map(|regex| regex.is_match(value))
            .map_err(|err| format!("trust policy has an invalid pattern {pattern:?}: {err}"))
    };
    let iss = claim("iss").unwrap_or_default();
    if iss != policy.issuer {
        return Err(format!(
            "trust policy: issuer mismatch: got {iss:?}, want {:?}",
            policy.issuer
        ));
    }
    let sub = claim("sub").unwrap_or_default();
    if let Some(subject) = &policy.subject {
        if sub != *subject {
            return Err(format!(
                "trust policy: subject mismatch: got {sub:?}, want {subject:?}"
            ));
        }
    }
    if let Some(pattern) = &policy.subject_pattern {
        if !matches(pattern, &sub)? {
            return Err(format!(
                "trust policy: subject {sub:?} does not match pattern {pattern:?}"
            ));
        }
    }
    for (name, pattern) in &policy.claim_pattern {
        let Some(value) = claim(name) else {
            return Err(format!("trust policy: claim {name:?} is missing"));
        };
        if !matches(pattern, &value)? {
            return Err(format!(
                "trust policy: claim {name:?} = {value:?} does not match pattern {pattern:?}"
            ));
        }
    }
    Ok(())
}

fn check_headers(req: &Req) -> Result<(), ApiError> {
    if req
        .header("user-agent")
        .is_none_or(|agent| agent.trim().is_empty())
    {
        return Err(ApiError::new(
            403,
            "Request forbidden by administrative rules. Please make sure your request has a User-Agent header",
        ));
    }
    let accept = req.header("accept").unwrap_or("");
    let accepts_github = accept.split(',').any(|media| {
        media
            .split(';')
            .next()
            .is_some_and(|kind| kind.trim().eq_ignore_ascii_case(MEDIA_TYPE))
    });
    if !accepts_github {
        // Stricter than GitHub on purpose: a client that forgets this header is buggy.
        return Err(ApiError::new(
            400,
            format!("fake-github: the Accept header must be {MEDIA_TYPE}, got {accept:?}"),
        ));
    }
    match req.header("x-github-api-version") {
        Some(API_VERSION) => Ok(()),
        Some(other) => Err(ApiError::new(
            400,
            format!("API version {other:?} is not supported. fake-github expects X-GitHub-Api-Version: {API_VERSION}"),
        )),
        None => Err(ApiError::new(
            400,
            format!("fake-github: the X-GitHub-Api-Version header must be {API_VERSION}"),
        )),
    }
}

fn invalid_request(problems: &[String]) -> ApiError {
    ApiError {
        status: 422,
        message: format!("Invalid request.\n\n{}", problems.join("\n")),
        errors: Some(
            problems
                .iter()
                .map(|problem| {
                    json!({"resource": "Installation", "code": "invalid", "message": problem})
                })
                .collect(),
        ),
    }
}

fn merge(target: &mut Value, fields: Value) {
    if let (Value::Object(target), Value::Object(fields)) = (target, fields) {
        target.extend(fields);
    }
}

fn account_id(installation: &InstallationConfig) -> u64 {
    installation.id.saturating_add(1_000_000)
}

/// Stable, distinct ids so `repository_ids` requests can be resolved.
fn repository_id(installation: &InstallationConfig, index: usize) -> u64 {
    installation
        .id
        .saturating_mul(1000)
        .saturating_add(u64::try_from(index).unwrap_or(0) + 1)
}

fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|at| {
            at.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .map(|text| {
            // GitHub uses whole seconds and `Z`.
            text.split('.')
                .next()
                .unwrap_or(&text)
                .trim_end_matches('Z')
                .to_owned()
                + "Z"
        })
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;
