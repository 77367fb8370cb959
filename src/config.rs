//! Inputs -> typed configuration. Everything a user can get wrong is caught here, before any
//! network call, with a message that names the input and a hint that says how to fix it.

use crate::app_key::{AppKey, Issuer, KeyError};
use crate::github::InstallationTarget;
use crate::http::BaseUrl;
use crate::permissions::{self, PermissionError, PermissionSet};
use crate::runner::{Inputs, JobContext};
use crate::seal::{SealError, SealPublicKey, SealSecretKey};

/// GitHub accepts at most this many repositories in one token request.
const MAX_REPOSITORIES: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("input `app-id` or `client-id` is required (or `identity` for a keyless token)")]
    MissingAppIdentity,
    #[error("input `app-id` must be the app's numeric ID, got `{given}`")]
    BadAppId { given: String },
    #[error("input `client-id` must be a single word such as `Iv23li...`, got `{given}`")]
    BadClientId { given: String },
    #[error("input `private-key` is required with `{with}`")]
    MissingPrivateKey { with: &'static str },
    #[error("input `private-key` {0}")]
    PrivateKey(#[from] KeyError),
    #[error("input `{input}`: {source}")]
    Permission {
        input: String,
        source: PermissionError,
    },
    #[error("input `repositories`: `{entry}` is not under the owner `{owner}`")]
    RepositoryOwnerMismatch { entry: String, owner: String },
    #[error("input `{input}`: `{entry}` is not a valid {what} name")]
    BadName {
        input: &'static str,
        entry: String,
        what: &'static str,
    },
    #[error(
        "input `repositories` names {count} repositories; GitHub allows at most {MAX_REPOSITORIES}"
    )]
    TooManyRepositories { count: usize },
    #[error("no repository to scope the token to: GITHUB_REPOSITORY is not set and neither `owner` nor `repositories` was given")]
    NoRepositoryContext,
    #[error("input `{input}` must be a boolean, got `{given}`")]
    BadBoolean { input: &'static str, given: String },
    #[error("input `{input}` is not an http(s) URL: `{given}`")]
    BadUrl { input: &'static str, given: String },
    #[error("input `least-privilege` must be `warn`, `enforce` or `off`, got `{given}`")]
    BadLeastPrivilege { given: String },
    #[error("inputs `{first}` and `{second}` cannot be used together")]
    Conflict {
        first: &'static str,
        second: &'static str,
    },
    #[error("input `{input}` is required")]
    Missing { input: &'static str },
    #[error("input `{input}`: {source}")]
    Seal {
        input: &'static str,
        source: SealError,
    },
    #[error("input `scope` must be `org/repo` or `org`, got `{given}`")]
    BadScope { given: String },
}

impl ConfigError {
    /// How to fix it, in the user's terms.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            ConfigError::MissingAppIdentity => {
                "set `client-id: ${{ vars.APP_CLIENT_ID }}` (or `app-id`) and `private-key: ${{ secrets.APP_PRIVATE_KEY }}`".to_owned()
            }
            ConfigError::BadAppId { .. } => {
                "the app ID is the number on the app's settings page; a client ID starting with `Iv` goes in `client-id`".to_owned()
            }
            ConfigError::MissingPrivateKey { .. } => {
                "pass the app's private key from a secret: `private-key: ${{ secrets.APP_PRIVATE_KEY }}`".to_owned()
            }
            ConfigError::PrivateKey(KeyError::Encrypted) => {
                "GitHub generates unencrypted keys; store the downloaded .pem file as it is".to_owned()
            }
            ConfigError::PrivateKey(_) => {
                "store the whole .pem file GitHub generated for the app, BEGIN and END lines included".to_owned()
            }
            ConfigError::Permission { source, .. } => permission_hint(source),
            ConfigError::RepositoryOwnerMismatch { owner, .. } => format!(
                "one token covers one installation: list only repositories of `{owner}`, or set `owner` to the other account and mint a second token"
            ),
            ConfigError::TooManyRepositories { .. } => {
                "leave `repositories` empty and set `owner` to cover every repository of the installation".to_owned()
            }
            ConfigError::NoRepositoryContext => {
                "set `owner` (and optionally `repositories`)".to_owned()
            }
            ConfigError::BadBoolean { .. } => {
                "use one of true, True, TRUE, false, False, FALSE".to_owned()
            }
            ConfigError::Conflict { first, second } => {
                format!("remove `{first}` or `{second}`")
            }
            ConfigError::Seal { input: "seal-to", .. } => {
                "`seal-to` takes the public key printed by `token-lease keygen` (base64 of 32 bytes)".to_owned()
            }
            ConfigError::Seal { .. } => {
                "`sealed-token` must be the `sealed-token` output of the mint job, and `seal-key` the secret key from the same `token-lease keygen` run as its `seal-to`".to_owned()
            }
            _ => return None,
        })
    }
}

fn permission_hint(error: &PermissionError) -> String {
    match error {
        PermissionError::At { source, .. } => permission_hint(source),
        PermissionError::UnknownName { .. } => {
            format!("valid permissions: {}", permissions::valid_names())
        }
        PermissionError::UnknownLevel { .. } => {
            "levels are `read`, `write` and, for a few permissions, `admin`".to_owned()
        }
        PermissionError::Conflict { .. } => {
            "name each permission once, or give it the same level everywhere".to_owned()
        }
        PermissionError::Syntax { .. } | PermissionError::YamlShape(_) => {
            "`permissions` takes a flat YAML mapping, one `name: level` per line, e.g. `contents: read`".to_owned()
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeastPrivilege {
    Warn,
    Enforce,
    Off,
}

#[derive(Debug)]
pub struct AppSource {
    pub issuer: Issuer,
    pub key: AppKey,
    pub target: InstallationTarget,
}

#[derive(Debug)]
pub struct StsSource {
    pub sts: BaseUrl,
    pub scope: String,
    pub identity: String,
    pub audience: String,
}

#[derive(Debug)]
pub enum Source {
    App(Box<AppSource>),
    Sts(StsSource),
}

#[derive(Debug)]
pub struct MintConfig {
    pub source: Source,
    pub permissions: PermissionSet,
    pub api: BaseUrl,
    pub skip_revoke: bool,
    pub seal_to: Option<SealPublicKey>,
    pub purpose: Option<String>,
    pub least_privilege: LeastPrivilege,
}

impl MintConfig {
    pub fn from_inputs(inputs: &Inputs, job: &JobContext) -> Result<MintConfig, ConfigError> {
        let permissions = parse_permissions(inputs)?;
        let source = if let Some(identity) = inputs.get("identity") {
            for input in ["app-id", "client-id", "private-key"] {
                if inputs.get(input).is_some() {
                    return Err(ConfigError::Conflict {
                        first: "identity",
                        second: input,
                    });
                }
            }
            if !permissions.is_empty() {
                return Err(ConfigError::Conflict {
                    first: "identity",
                    second: "permissions",
                });
            }
            Source::Sts(sts_source(inputs, job, identity)?)
        } else {
            Source::App(Box::new(app_source(inputs, job)?))
        };
        Ok(MintConfig {
            source,
            permissions,
            api: api_url(inputs, job)?,
            skip_revoke: boolean(inputs, "skip-token-revoke")?.unwrap_or(false),
            seal_to: inputs
                .get("seal-to")
                .map(|key| {
                    SealPublicKey::from_base64(key).map_err(|source| ConfigError::Seal {
                        input: "seal-to",
                        source,
                    })
                })
                .transpose()?,
            purpose: inputs.get("purpose").map(str::to_owned),
            least_privilege: match inputs.get("least-privilege") {
                None | Some("warn") => LeastPrivilege::Warn,
                Some("enforce") => LeastPrivilege::Enforce,
                Some("off") => LeastPrivilege::Off,
                Some(other) => {
                    return Err(ConfigError::BadLeastPrivilege {
                        given: other.to_owned(),
                    })
                }
            },
        })
    }
}

/// Inputs of the `open` action: the sealed token from another job and the key to open it.
#[derive(Debug)]
pub struct OpenConfig {
    pub sealed_token: String,
    pub seal_key: SealSecretKey,
    pub api: BaseUrl,
    pub skip_revoke: bool,
}

impl OpenConfig {
    pub fn from_inputs(inputs: &Inputs, job: &JobContext) -> Result<OpenConfig, ConfigError> {
        let sealed_token = inputs
            .get("sealed-token")
            .ok_or(ConfigError::Missing {
                input: "sealed-token",
            })?
            .to_owned();
        let seal_key = inputs
            .secret("seal-key")
            .ok_or(ConfigError::Missing { input: "seal-key" })?;
        let seal_key =
            SealSecretKey::from_base64(&seal_key).map_err(|source| ConfigError::Seal {
                input: "seal-key",
                source,
            })?;
        Ok(OpenConfig {
            sealed_token,
            seal_key,
            api: api_url(inputs, job)?,
            skip_revoke: boolean(inputs, "skip-token-revoke")?.unwrap_or(false),
        })
    }
}

/// The toolkit's `getBooleanInput`: YAML 1.2 core-schema spellings only, so a typo is an
/// error instead of silently meaning false.
pub fn boolean(inputs: &Inputs, input: &'static str) -> Result<Option<bool>, ConfigError> {
    match inputs.get(input) {
        None => Ok(None),
        Some("true" | "True" | "TRUE") => Ok(Some(true)),
        Some("false" | "False" | "FALSE") => Ok(Some(false)),
        Some(other) => Err(ConfigError::BadBoolean {
            input,
            given: other.to_owned(),
        }),
    }
}

/// `github-api-url` (default `${{ github.api_url }}`), else the runner's `GITHUB_API_URL`.
pub fn api_url(inputs: &Inputs, job: &JobContext) -> Result<BaseUrl, ConfigError> {
    let given = inputs
        .get("github-api-url")
        .or(job.api_url.as_deref())
        .unwrap_or("https://api.github.com");
    BaseUrl::parse(given).map_err(|_| ConfigError::BadUrl {
        input: "github-api-url",
        given: given.to_owned(),
    })
}

fn app_source(inputs: &Inputs, job: &JobContext) -> Result<AppSource, ConfigError> {
    // Either identifies the app; the client ID is what GitHub's docs now recommend as `iss`,
    // so it wins when both are given.
    let (issuer, with) = match (inputs.get("client-id"), inputs.get("app-id")) {
        (Some(client_id), _) => {
            if client_id
                .chars()
                .any(|c| !c.is_ascii_alphanumeric() && c != '.' && c != '_' && c != '-')
            {
                return Err(ConfigError::BadClientId {
                    given: client_id.to_owned(),
                });
            }
            (Issuer::ClientId(client_id.to_owned()), "client-id")
        }
        (None, Some(app_id)) => {
            let id = app_id.parse::<u64>().map_err(|_| ConfigError::BadAppId {
                given: app_id.to_owned(),
            })?;
            (Issuer::AppId(id), "app-id")
        }
        (None, None) => return Err(ConfigError::MissingAppIdentity),
    };
    let pem = inputs
        .secret("private-key")
        .ok_or(ConfigError::MissingPrivateKey { with })?;
    let key = AppKey::from_pem(&pem)?;
    Ok(AppSource {
        issuer,
        key,
        target: installation_target(inputs, job)?,
    })
}

/// The official action's rules: neither owner nor repositories -> the current repository;
/// owner alone -> all of that installation; repositories -> those, under owner (default: the
/// current owner).
pub fn installation_target(
    inputs: &Inputs,
    job: &JobContext,
) -> Result<InstallationTarget, ConfigError> {
    let owner = inputs.get("owner").map(str::to_owned);
    if let Some(owner) = &owner {
        check_name("owner", owner, "account")?;
    }
    match (owner, inputs.get("repositories")) {
        (owner, Some(list)) => {
            let owner = match owner.or_else(|| job.repository_owner.clone()) {
                Some(owner) => owner,
                None => current_repository(job)?.0,
            };
            let repositories = parse_repositories(list, &owner)?;
            if repositories.is_empty() {
                return Ok(InstallationTarget::Owner { owner });
            }
            Ok(InstallationTarget::Repositories {
                owner,
                repositories,
            })
        }
        (Some(owner), None) => Ok(InstallationTarget::Owner { owner }),
        (None, None) => {
            let (owner, repository) = current_repository(job)?;
            Ok(InstallationTarget::CurrentRepository { owner, repository })
        }
    }
}

fn current_repository(job: &JobContext) -> Result<(String, String), ConfigError> {
    let full = job
        .repository
        .as_deref()
        .ok_or(ConfigError::NoRepositoryContext)?;
    let (owner, repository) = full
        .split_once('/')
        .ok_or(ConfigError::NoRepositoryContext)?;
    Ok((owner.to_owned(), repository.to_owned()))
}

/// Names split on commas and newlines with surrounding space trimmed; `owner/name` entries
/// are accepted when the owner matches (GitHub compares account names case-insensitively).
pub fn parse_repositories(list: &str, owner: &str) -> Result<Vec<String>, ConfigError> {
    let mut repositories: Vec<String> = Vec::new();
    for entry in list
        .split([',', '\n'])
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
    {
        let name = match entry.split_once('/') {
            Some((entry_owner, name)) if entry_owner.eq_ignore_ascii_case(owner) => name,
            Some(_) => {
                return Err(ConfigError::RepositoryOwnerMismatch {
                    entry: entry.to_owned(),
                    owner: owner.to_owned(),
                })
            }
            None => entry,
        };
        check_name("repositories", name, "repository")?;
        if !repositories
            .iter()
            .any(|known| known.eq_ignore_ascii_case(name))
        {
            repositories.push(name.to_owned());
        }
    }
    if repositories.len() > MAX_REPOSITORIES {
        return Err(ConfigError::TooManyRepositories {
            count: repositories.len(),
        });
    }
    Ok(repositories)
}

/// GitHub account and repository names: letters, digits, `-`, `_`, `.`. Checking keeps a
/// stray `/`, `?` or space from changing which API path is called.
fn check_name(input: &'static str, name: &str, what: &'static str) -> Result<(), ConfigError> {
    let valid = !name.is_empty()
        && name.len() <= 100
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(())
    } else {
        Err(ConfigError::BadName {
            input,
            entry: name.to_owned(),
            what,
        })
    }
}

/// All `permission-<name>` inputs and the `permissions` YAML mapping, merged.
pub fn parse_permissions(inputs: &Inputs) -> Result<PermissionSet, ConfigError> {
    let mut set = PermissionSet::new();
    if let Some(yaml) = inputs.get("permissions") {
        set = permissions::parse_yaml(yaml).map_err(|source| ConfigError::Permission {
            input: "permissions".to_owned(),
            source,
        })?;
    }
    for (name, level) in inputs.with_prefix("permission-") {
        let input = format!("permission-{name}");
        let (api_name, level) =
            permissions::parse_one(name, level).map_err(|source| ConfigError::Permission {
                input: input.clone(),
                source,
            })?;
        permissions::insert(&mut set, api_name, level)
            .map_err(|source| ConfigError::Permission { input, source })?;
    }
    Ok(set)
}

fn sts_source(inputs: &Inputs, job: &JobContext, identity: &str) -> Result<StsSource, ConfigError> {
    for input in ["owner", "repositories"] {
        if inputs.get(input).is_some() {
            return Err(ConfigError::Conflict {
                first: "identity",
                second: input,
            });
        }
    }
    check_name("identity", identity, "trust policy")?;
    let scope = match inputs.get("scope") {
        Some(scope) => scope.to_owned(),
        None => job
            .repository
            .clone()
            .ok_or(ConfigError::Missing { input: "scope" })?,
    };
    let scope_ok = match scope.split_once('/') {
        Some((org, repo)) => {
            check_name("scope", org, "account").is_ok()
                && check_name("scope", repo, "repository").is_ok()
        }
        None => check_name("scope", &scope, "account").is_ok(),
    };
    if !scope_ok {
        return Err(ConfigError::BadScope { given: scope });
    }
    let sts_text = inputs.get("sts-url").unwrap_or("https://octo-sts.dev");
    let sts = BaseUrl::parse(sts_text).map_err(|_| ConfigError::BadUrl {
        input: "sts-url",
        given: sts_text.to_owned(),
    })?;
    let audience = inputs
        .get("audience")
        .map(str::to_owned)
        .unwrap_or_else(|| sts.host());
    Ok(StsSource {
        sts,
        scope,
        identity: identity.to_owned(),
        audience,
    })
}

#[cfg(test)]
mod tests {
    // Test tables spell their row types out in full.
    #![allow(clippy::type_complexity, clippy::unwrap_used)]
    use super::*;

    fn inputs(pairs: &[(&str, &str)]) -> Inputs {
        Inputs::from_pairs(pairs.iter().map(|(name, value)| {
            (
                format!("INPUT_{}", name.to_uppercase()),
                (*value).to_owned(),
            )
        }))
    }

    fn job() -> JobContext {
        JobContext {
            repository: Some("octo-org/api".into()),
            repository_owner: Some("octo-org".into()),
            ..JobContext::default()
        }
    }

    #[test]
    fn installation_target_follows_the_official_rules() {
        let owner = |name: &str| name.to_owned();
        let cases: &[(&[(&str, &str)], InstallationTarget)] = &[
            (
                &[],
                InstallationTarget::CurrentRepository {
                    owner: owner("octo-org"),
                    repository: "api".into(),
                },
            ),
            (
                &[("owner", "other")],
                InstallationTarget::Owner {
                    owner: owner("other"),
                },
            ),
            (
                &[("repositories", "web")],
                InstallationTarget::Repositories {
                    owner: owner("octo-org"),
                    repositories: vec!["web".into()],
                },
            ),
            (
                &[("owner", "other"), ("repositories", "a,\n other/b , c\n")],
                InstallationTarget::Repositories {
                    owner: owner("other"),
                    repositories: vec!["a".into(), "b".into(), "c".into()],
                },
            ),
            (
                &[("repositories", "Octo-Org/api, api, API")],
                InstallationTarget::Repositories {
                    owner: owner("octo-org"),
                    repositories: vec!["api".into()],
                },
            ),
            (
                &[("repositories", " , \n")],
                InstallationTarget::Owner {
                    owner: owner("octo-org"),
                },
            ),
        ];
        for (given, expected) in cases {
            assert_eq!(
                &installation_target(&inputs(given), &job()).unwrap(),
                expected,
                "{given:?}"
            );
        }
    }

    #[test]
    fn repository_lists_are_checked() {
        let refused = [
            (
                "other/api",
                "input `repositories`: `other/api` is not under the owner `octo-org`",
            ),
            (
                "api/../x",
                "input `repositories`: `api/../x` is not under the owner `octo-org`",
            ),
            (
                "octo-org/a/b",
                "input `repositories`: `a/b` is not a valid repository name",
            ),
            (
                "a b",
                "input `repositories`: `a b` is not a valid repository name",
            ),
            (
                "..",
                "input `repositories`: `..` is not a valid repository name",
            ),
        ];
        for (list, expected) in refused {
            assert_eq!(
                parse_repositories(list, "octo-org")
                    .unwrap_err()
                    .to_string(),
                expected
            );
        }
        let many: String = (0..501).map(|n| format!("repo{n},")).collect();
        assert!(matches!(
            parse_repositories(&many, "o"),
            Err(ConfigError::TooManyRepositories { count: 501 })
        ));
        assert!(installation_target(&inputs(&[]), &JobContext::default()).is_err());
    }

    #[test]
    fn booleans_use_the_toolkit_spellings() {
        for (given, expected) in [
            ("true", Some(true)),
            ("True", Some(true)),
            ("TRUE", Some(true)),
            ("false", Some(false)),
            ("False", Some(false)),
            ("FALSE", Some(false)),
            ("", None),
            ("  ", None),
        ] {
            assert_eq!(
                boolean(
                    &inputs(&[("skip-token-revoke", given)]),
                    "skip-token-revoke"
                )
                .unwrap(),
                expected,
                "{given}"
            );
        }
        for given in ["yes", "1", "tRuE", "on"] {
            assert!(
                boolean(
                    &inputs(&[("skip-token-revoke", given)]),
                    "skip-token-revoke"
                )
                .is_err(),
                "{given}"
            );
        }
    }

    #[test]
    fn permissions_from_inputs_and_yaml_merge() {
        let set = parse_permissions(&inputs(&[
            ("permission-contents", "read"),
            ("permission-pull-requests", "write"),
            ("permission-issues", ""),
            ("permissions", "checks: write\ncontents: read"),
        ]))
        .unwrap();
        let names: Vec<_> = set
            .iter()
            .map(|(name, level)| format!("{name}={level}"))
            .collect();
        assert_eq!(
            names,
            ["checks=write", "contents=read", "pull_requests=write"]
        );
        let error = parse_permissions(&inputs(&[
            ("permission-contents", "read"),
            ("permissions", "contents: write"),
        ]))
        .unwrap_err();
        assert_eq!(error.to_string(), "input `permission-contents`: permission `contents` is named twice with different levels (write and read)");
        let error = parse_permissions(&inputs(&[("permission-nope", "read")])).unwrap_err();
        assert!(error
            .hint()
            .unwrap()
            .starts_with("valid permissions: actions, administration"));
    }

    #[test]
    fn api_url_defaults_and_validation() {
        let empty = JobContext::default();
        assert_eq!(
            api_url(&inputs(&[]), &empty).unwrap().as_str(),
            "https://api.github.com"
        );
        let ghes = JobContext {
            api_url: Some("https://ghes.example/api/v3".into()),
            ..JobContext::default()
        };
        assert_eq!(
            api_url(&inputs(&[]), &ghes).unwrap().as_str(),
            "https://ghes.example/api/v3"
        );
        assert_eq!(
            api_url(
                &inputs(&[("github-api-url", "https://x.example/api/v3/")]),
                &ghes
            )
            .unwrap()
            .as_str(),
            "https://x.example/api/v3"
        );
        assert!(api_url(&inputs(&[("github-api-url", "x.example")]), &ghes).is_err());
    }

    #[test]
    fn keyless_scope_defaults_and_audience_is_the_sts_host() {
        let config = MintConfig::from_inputs(
            &inputs(&[
                ("identity", "ci"),
                ("sts-url", "https://sts.example.com:8443/"),
            ]),
            &job(),
        )
        .unwrap();
        let Source::Sts(sts) = config.source else {
            panic!("keyless")
        };
        assert_eq!(sts.scope, "octo-org/api");
        assert_eq!(sts.audience, "sts.example.com");
        assert_eq!(sts.sts.as_str(), "https://sts.example.com:8443");
        for bad in ["a/b/c", "org/", "/repo", "o rg"] {
            assert!(
                MintConfig::from_inputs(&inputs(&[("identity", "ci"), ("scope", bad)]), &job())
                    .is_err(),
                "{bad}"
            );
        }
    }
}
