//! A minted token and everything known about it: who issued it, for what, until when.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::secret::Secret;

#[derive(Debug)]
pub struct Credential {
    pub token: Secret,
    /// ISO 8601, as GitHub gave it; `None` when the source does not say (an STS exchange).
    pub expires_at: Option<String>,
    pub origin: Origin,
    pub owner: String,
    pub repositories: RepositoryScope,
    /// What GitHub granted (not what was asked); `None` when the source does not report it.
    pub permissions: Option<BTreeMap<String, String>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    App {
        app_slug: String,
        installation_id: u64,
        issuer: String,
    },
    Sts {
        sts_url: String,
        scope: String,
        identity: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RepositoryScope {
    All,
    Selected(Vec<String>),
    Unknown,
}

impl RepositoryScope {
    pub fn describe(&self) -> String {
        match self {
            RepositoryScope::All => "all repositories of the installation".to_owned(),
            RepositoryScope::Selected(names) => names.join(", "),
            RepositoryScope::Unknown => "as the trust policy grants".to_owned(),
        }
    }
}

impl Origin {
    pub fn describe(&self) -> String {
        match self {
            Origin::App {
                app_slug,
                installation_id,
                ..
            } => format!("GitHub App `{app_slug}` (installation {installation_id})"),
            Origin::Sts {
                sts_url,
                scope,
                identity,
            } => format!("STS {sts_url} (scope `{scope}`, identity `{identity}`)"),
        }
    }
}

/// A short SHA-256 fingerprint that identifies a token in logs without revealing it.
pub fn fingerprint(token: &Secret) -> String {
    let digest = Sha256::digest(token.expose().as_bytes());
    let hex: String = digest
        .iter()
        .take(8)
        .map(|byte| format!("{byte:02x}"))
        .collect();
    format!("sha256:{hex}")
}

/// Permissions as `name: level` pairs joined for a log line.
pub fn describe_permissions(permissions: &BTreeMap<String, String>) -> String {
    if permissions.is_empty() {
        return "none".to_owned();
    }
    permissions
        .iter()
        .map(|(name, level)| format!("{name}: {level}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_short_stable_and_not_the_token() {
        let token = Secret::new("ghs_16C7e42F292c6912E7710c838347Ae178B4a");
        let print = fingerprint(&token);
        assert_eq!(print.len(), "sha256:".len() + 16);
        assert_eq!(print, fingerprint(&token));
        assert!(!print.contains("16C7e42F"));
    }
}
