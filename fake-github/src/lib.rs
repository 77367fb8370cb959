//! A fake GitHub on 127.0.0.1 for token-lease's end-to-end tests, demo and benchmark: the
//! GitHub App endpoints (installation lookup, token creation, revocation), an Actions OIDC
//! issuer and an octo-sts style exchange. It checks what GitHub checks (JWT signature and
//! lifetime, headers, request schema, permission and repository scoping) so a client bug
//! fails loudly here rather than in production.
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use serde_json::{json, Map, Value};

pub mod actions_runner;
mod crypto;
mod schema;
mod server;

/// Test-only RSA keys (see `keys/README.md`); public, so never trust them for anything real.
pub mod keys {
    pub const APP_KEY_PKCS1_PEM: &str = include_str!("../keys/app-key.pkcs1.pem");
    pub const APP_KEY_PKCS8_PEM: &str = include_str!("../keys/app-key.pkcs8.pem");
    pub const WRONG_KEY_PKCS8_PEM: &str = include_str!("../keys/wrong-key.pkcs8.pem");
    pub const OIDC_ISSUER_KEY_PKCS8_PEM: &str = include_str!("../keys/oidc-issuer-key.pkcs8.pem");
}

pub const APP_ID: u64 = 12345;
pub const CLIENT_ID: &str = "Iv23liFakeClient0001";
pub const APP_SLUG: &str = "token-lease-test";
pub const ORG: &str = "octo-org";
pub const ORG_INSTALLATION_ID: u64 = 1001;
pub const USER: &str = "octocat";
pub const USER_INSTALLATION_ID: u64 = 1002;

pub const DEFAULT_OIDC_ISSUER: &str = "https://token.actions.githubusercontent.com";
pub const DEFAULT_OIDC_REQUEST_TOKEN: &str = "fake-actions-id-token-request-token";

#[derive(Clone, Debug)]
pub struct FakeConfig {
    pub app: AppConfig,
    pub installations: Vec<InstallationConfig>,
    /// `""` for github.com, e.g. `"/api/v3"` for GHES: every GitHub API route lives under
    /// it and the same path without it is a 404.
    pub path_prefix: String,
    pub token_format: TokenFormat,
    /// The fake's "now" is the real now plus this, to emulate a skewed client clock.
    pub clock_skew_secs: i64,
    pub oidc: OidcConfig,
    pub trust_policies: Vec<TrustPolicy>,
}

#[derive(Clone, Debug)]
pub struct AppConfig {
    pub id: u64,
    pub client_id: String,
    pub slug: String,
    /// The fake derives the public key it verifies app JWTs with from this.
    pub private_key_pem: String,
}

#[derive(Clone, Debug)]
pub struct InstallationConfig {
    pub id: u64,
    pub account: String,
    pub account_type: AccountType,
    pub selection: RepositorySelection,
    /// Every repository the installation can reach (for `All`, all the account has).
    pub repositories: Vec<String>,
    pub permissions: BTreeMap<String, String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountType {
    Organization,
    User,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RepositorySelection {
    All,
    Selected,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenFormat {
    /// `ghs_` + 36 `[A-Za-z0-9]`.
    Classic,
    /// `ghs_{APP_ID}_` + a JWT-like string well over 200 characters, as GitHub is rolling
    /// out; clients must not assume a token length.
    Stateless,
}

#[derive(Clone, Debug)]
pub struct OidcConfig {
    /// What `ACTIONS_ID_TOKEN_REQUEST_TOKEN` must be.
    pub request_token: String,
    pub issuer: String,
    /// Claims of every issued ID token, besides `iss`, `aud`, `iat`, `nbf`, `exp`, `jti`.
    pub claims: Map<String, Value>,
    pub signing_key_pkcs8_pem: String,
}

#[derive(Clone, Debug)]
pub struct TrustPolicy {
    /// `"octo-org/api"` (repository policy) or `"octo-org"` (organisation policy).
    pub scope: String,
    pub identity: String,
    pub issuer: String,
    pub subject: Option<String>,
    /// Anchored: matched as `^(?:pattern)$`, like `claim_pattern`.
    pub subject_pattern: Option<String>,
    /// `None`: the audience must be the STS host, i.e. `127.0.0.1`.
    pub audience: Option<String>,
    pub claim_pattern: BTreeMap<String, String>,
    pub permissions: BTreeMap<String, String>,
    /// Organisation policies only; empty means every repository of the installation.
    pub repositories: Vec<String>,
}

fn string_map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
        .collect()
}

impl Default for OidcConfig {
    fn default() -> Self {
        let claims = json!({
            "sub": "repo:octo-org/api:ref:refs/heads/main",
            "repository": "octo-org/api",
            "repository_owner": "octo-org",
            "repository_id": "101",
            "repository_owner_id": "1001001",
            "repository_visibility": "private",
            "ref": "refs/heads/main",
            "ref_type": "branch",
            "sha": "0123456789abcdef0123456789abcdef01234567",
            "event_name": "push",
            "workflow": "release",
            "workflow_ref": "octo-org/api/.github/workflows/release.yml@refs/heads/main",
            "job_workflow_ref": "octo-org/api/.github/workflows/release.yml@refs/heads/main",
            "run_id": "4242",
            "run_number": "7",
            "run_attempt": "1",
            "actor": "octocat",
            "actor_id": "1002002",
            "runner_environment": "github-hosted",
        });
        OidcConfig {
            request_token: DEFAULT_OIDC_REQUEST_TOKEN.to_owned(),
            issuer: DEFAULT_OIDC_ISSUER.to_owned(),
            claims: match claims {
                Value::Object(claims) => claims,
                _ => Map::new(),
            },
            signing_key_pkcs8_pem: keys::OIDC_ISSUER_KEY_PKCS8_PEM.to_owned(),
        }
    }
}

impl Default for FakeConfig {
    fn default() -> Self {
        FakeConfig {
            app: AppConfig {
                id: APP_ID,
                client_id: CLIENT_ID.to_owned(),
                slug: APP_SLUG.to_owned(),
                private_key_pem: keys::APP_KEY_PKCS8_PEM.to_owned(),
            },
            installations: vec![
                InstallationConfig {
                    id: ORG_INSTALLATION_ID,
                    account: ORG.to_owned(),
                    account_type: AccountType::Organization,
                    selection: RepositorySelection::All,
                    repositories: vec!["api".into(), "web".into(), "docs".into()],
                    permissions: string_map(&[
                        ("actions", "read"),
                        ("contents", "write"),
                        ("issues", "write"),
                        ("metadata", "read"),
                        ("pull_requests", "write"),
                    ]),
                },
                InstallationConfig {
                    id: USER_INSTALLATION_ID,
                    account: USER.to_owned(),
                    account_type: AccountType::User,
                    selection: RepositorySelection::Selected,
                    repositories: vec!["dotfiles".into()],
                    permissions: string_map(&[("contents", "read"), ("metadata", "read")]),
                },
            ],
            path_prefix: String::new(),
            token_format: TokenFormat::Classic,
            clock_skew_secs: 0,
            oidc: OidcConfig::default(),
            trust_policies: vec![TrustPolicy {
                scope: "octo-org/api".to_owned(),
                identity: "ci".to_owned(),
                issuer: DEFAULT_OIDC_ISSUER.to_owned(),
                subject: None,
                subject_pattern: Some("repo:octo-org/api:ref:refs/heads/.*".to_owned()),
                audience: None,
                claim_pattern: BTreeMap::new(),
                permissions: string_map(&[("contents", "read")]),
                repositories: Vec::new(),
            }],
        }
    }
}

/// Which endpoint a fault is aimed at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Route {
    /// Any of `GET /repos/{o}/{r}/installation`, `/orgs/{o}/installation`,
    /// `/users/{u}/installation`.
    InstallationLookup,
    CreateToken,
    Revoke,
    ListRepositories,
    OidcToken,
    StsExchange,
}

/// A one-shot misbehaviour, consumed by the next request to its route.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer with this status; `Retry-After` when given; a GitHub-shaped error body unless
    /// `body` is given (served as `application/json`).
    Status {
        status: u16,
        retry_after: Option<u64>,
        body: Option<String>,
    },
    /// A 2xx with an HTML body, like a captive portal or a proxy page.
    NotJson,
    /// A 2xx `application/json` body cut in the middle.
    Truncated,
    /// Never answers (the connection stays open for an hour); other requests and shutdown
    /// are unaffected.
    Hang,
}

impl Fault {
    /// A plain status answer: GitHub's error body, no `Retry-After`.
    pub fn status(status: u16) -> Fault {
        Fault::Status {
            status,
            retry_after: None,
            body: None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    /// As received: with the path prefix, without the query.
    pub path: String,
    pub query: Option<String>,
    /// Names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON; a body that is not JSON is kept as a JSON string.
    pub body: Option<Value>,
    /// The status answered; 0 for a request left hanging by [`Fault::Hang`].
    pub status: u16,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// `"GET /repos/octo-org/api/installation"`.
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

#[derive(Clone, Debug)]
pub struct IssuedToken {
    pub token: String,
    pub installation_id: u64,
    pub permissions: BTreeMap<String, String>,
    /// `None`: every repository of the installation.
    pub repositories: Option<Vec<String>>,
    pub expires_at: String,
    pub revoked: bool,
    pub via_sts: bool,
}

/// Signs an RS256 JWT with a PEM (PKCS#1 or PKCS#8) RSA key, for tests that need app JWTs or
/// OIDC tokens of their own making (wrong key, odd claims...).
///
/// # Panics
/// On a key that is not an RSA private key: this is test tooling.
pub fn sign_rs256_jwt(private_key_pem: &str, header: &Value, claims: &Value) -> String {
    let pair = crypto::key_pair(private_key_pem).unwrap_or_else(|err| panic!("{err}"));
    crypto::sign_jwt(&pair, header, claims).unwrap_or_else(|err| panic!("{err}"))
}

/// State shared by the server thread and the handle.
#[derive(Default)]
struct Shared {
    requests: Vec<RecordedRequest>,
    faults: HashMap<Route, VecDeque<Fault>>,
    tokens: Vec<server::TokenRecord>,
}

type SharedState = Arc<Mutex<Shared>>;

fn lock(state: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // A panicking test thread must not take the fake down with it.
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running fake. The server runs on its own thread with a current-thread tokio runtime, so
/// plain `#[test]` functions can use it; dropping the handle stops it.
pub struct FakeGitHub {
    addr: SocketAddr,
    config: FakeConfig,
    shared: SharedState,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FakeGitHub {
    /// Binds 127.0.0.1 on a free port and starts serving.
    ///
    /// # Panics
    /// When the socket cannot be bound or the app key is not an RSA key.
    pub fn start(config: FakeConfig) -> FakeGitHub {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|err| panic!("fake-github: cannot bind 127.0.0.1: {err}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|err| panic!("fake-github: no local address: {err}"));
        listener
            .set_nonblocking(true)
            .unwrap_or_else(|err| panic!("fake-github: {err}"));
        let shared: SharedState = Arc::default();
        let app = server::App::new(config.clone(), addr, shared.clone())
            .unwrap_or_else(|err| panic!("fake-github: bad configuration: {err}"));
        let (shutdown, stopped) = tokio::sync::oneshot::channel();
        let thread = std::thread::Builder::new()
            .name(format!("fake-github-{}", addr.port()))
            .spawn(move || server::run(listener, app, stopped))
            .unwrap_or_else(|err| panic!("fake-github: cannot spawn its thread: {err}"));
        FakeGitHub {
            addr,
            config,
            shared,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Base URL plus the path prefix, without a trailing slash.
    pub fn api_url(&self) -> String {
        format!(
            "{}{}",
            self.base_url(),
            self.config.path_prefix.trim_end_matches('/')
        )
    }

    /// The octo-sts domain: the exchange is `GET {sts_url}/sts/exchange`.
    pub fn sts_url(&self) -> String {
        self.base_url()
    }

    /// Like `ACTIONS_ID_TOKEN_REQUEST_URL`, it already carries a query string.
    pub fn oidc_request_url(&self) -> String {
        format!("{}/_actions/idtoken?api-version=2.0", self.base_url())
    }

    pub fn oidc_request_token(&self) -> String {
        self.config.oidc.request_token.clone()
    }

    pub fn config(&self) -> &FakeConfig {
        &self.config
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared).requests.clone()
    }

    pub fn clear_requests(&self) {
        lock(&self.shared).requests.clear();
    }

    /// Queues a one-shot fault; faults of one route are served first in, first out.
    pub fn inject(&self, route: Route, fault: Fault) {
        lock(&self.shared)
            .faults
            .entry(route)
            .or_default()
            .push_back(fault);
    }

    pub fn tokens(&self) -> Vec<IssuedToken> {
        lock(&self.shared)
            .tokens
            .iter()
            .map(|record| record.issued.clone())
            .collect()
    }

    pub fn token(&self, token: &str) -> Option<IssuedToken> {
        lock(&self.shared)
            .tokens
            .iter()
            .find(|record| record.issued.token == token)
            .map(|record| record.issued.clone())
    }
}

impl Drop for FakeGitHub {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
