//! The GitHub App's private key and the app JWT it signs.
//!
//! An app JWT is three base64url parts and one RSASSA-PKCS1-v1_5 SHA-256 signature, so it is
//! signed here with ring directly: no JWT library, no second crypto backend, and about a
//! millisecond in a fresh process (aws-lc's one-time set-up costs ~30 ms).

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use zeroize::Zeroizing;

use crate::secret::Secret;

/// Why a `private-key` input was refused. No variant carries any of the key's text.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("is not a PEM private key (no `-----BEGIN ... PRIVATE KEY-----` line)")]
    NotPem,
    #[error("has a `BEGIN {label}` line but no matching `END {label}` line")]
    Unterminated { label: String },
    #[error("is an encrypted PEM key; GitHub Apps use an unencrypted key")]
    Encrypted,
    #[error("is a `{label}` PEM block, not an RSA private key")]
    WrongKind { label: String },
    #[error("has a PEM body that is not valid base64")]
    BadBase64,
    #[error("is not a valid RSA private key ({reason})")]
    Rejected { reason: String },
    #[error("could not be used to sign")]
    SigningFailed,
}

/// The JWT `iss`: the app's numeric ID or its client ID (what GitHub's docs now recommend).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Issuer {
    AppId(u64),
    ClientId(String),
}

impl std::fmt::Display for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Issuer::AppId(id) => write!(f, "app ID {id}"),
            Issuer::ClientId(id) => write!(f, "client ID {id}"),
        }
    }
}

pub struct AppKey {
    key_pair: RsaKeyPair,
}

impl std::fmt::Debug for AppKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AppKey(***)")
    }
}

impl AppKey {
    /// Parses a PEM key in PKCS#1 (`RSA PRIVATE KEY`, what GitHub downloads) or PKCS#8
    /// (`PRIVATE KEY`, what `openssl pkcs8` makes). A PEM pasted into a secret with literal
    /// `\n` escapes instead of line breaks, a frequent mistake, is accepted too.
    pub fn from_pem(pem: &Secret) -> Result<AppKey, KeyError> {
        let text = pem.expose();
        let unescaped: Zeroizing<String>;
        let text = if !text.contains('\n') && text.contains("\\n") {
            unescaped = Zeroizing::new(text.replace("\\n", "\n"));
            unescaped.as_str()
        } else {
            text
        };
        let (label, der) = decode_pem(text)?;
        let key_pair = match label.as_str() {
            "RSA PRIVATE KEY" => RsaKeyPair::from_der(&der),
            "PRIVATE KEY" => RsaKeyPair::from_pkcs8(&der),
            "ENCRYPTED PRIVATE KEY" => return Err(KeyError::Encrypted),
            _ => return Err(KeyError::WrongKind { label }),
        }
        .map_err(|rejected| KeyError::Rejected {
            reason: rejected.to_string(),
        })?;
        Ok(AppKey { key_pair })
    }

    /// Signs an app JWT valid from a minute ago (GitHub's clock may lag ours) for nine
    /// minutes: GitHub refuses more than ten, and a skewed clock would push ten over.
    pub fn sign_jwt(&self, issuer: &Issuer, now_unix: i64) -> Result<Secret, KeyError> {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let iss = match issuer {
            Issuer::AppId(id) => serde_json::Value::from(*id),
            Issuer::ClientId(id) => serde_json::Value::from(id.as_str()),
        };
        let claims = serde_json::json!({ "iat": now_unix - 60, "exp": now_unix + 540, "iss": iss });
        let signing_input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
        let mut signature = vec![0u8; self.key_pair.public().modulus_len()];
        self.key_pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| KeyError::SigningFailed)?;
        Ok(Secret::new(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        )))
    }
}

fn decode_pem(text: &str) -> Result<(String, Zeroizing<Vec<u8>>), KeyError> {
    let mut lines = text.lines().map(str::trim);
    let label = lines
        .by_ref()
        .find_map(|line| line.strip_prefix("-----BEGIN ")?.strip_suffix("-----"))
        .ok_or(KeyError::NotPem)?
        .to_owned();
    let end = format!("-----END {label}-----");
    let mut body = Zeroizing::new(String::new());
    let mut terminated = false;
    for line in lines {
        if line == end {
            terminated = true;
            break;
        }
        // Legacy encrypted PEM announces itself with headers before the body.
        if line.starts_with("Proc-Type:") || line.starts_with("DEK-Info:") {
            return Err(KeyError::Encrypted);
        }
        body.push_str(line);
    }
    if !terminated {
        return Err(KeyError::Unterminated { label });
    }
    let der = STANDARD
        .decode(body.as_bytes())
        .map_err(|_| KeyError::BadBase64)?;
    Ok((label, Zeroizing::new(der)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const PKCS1: &str = include_str!("../fake-github/keys/app-key.pkcs1.pem");
    const PKCS8: &str = include_str!("../fake-github/keys/app-key.pkcs8.pem");

    #[test]
    fn accepts_both_pem_forms_and_escaped_newlines() {
        for pem in [
            PKCS1.to_owned(),
            PKCS8.to_owned(),
            PKCS1.replace('\n', "\\n"),
            PKCS1.replace('\n', "\r\n"),
        ] {
            AppKey::from_pem(&Secret::new(pem)).unwrap();
        }
    }

    #[test]
    fn refusals_never_echo_the_key() {
        let body: String = PKCS1.lines().nth(1).unwrap().to_owned();
        let cases: Vec<(String, KeyError)> = vec![
            ("".into(), KeyError::NotPem),
            (body.clone(), KeyError::NotPem),
            (
                PKCS1.replace("-----END RSA PRIVATE KEY-----", ""),
                KeyError::Unterminated {
                    label: "RSA PRIVATE KEY".into(),
                },
            ),
            (
                PKCS1.replace("RSA PRIVATE KEY", "EC PRIVATE KEY"),
                KeyError::WrongKind {
                    label: "EC PRIVATE KEY".into(),
                },
            ),
            (
                PKCS8.replace("PRIVATE KEY", "ENCRYPTED PRIVATE KEY"),
                KeyError::Encrypted,
            ),
            (
                PKCS1.replacen(&body, &body.replace('A', "!"), 1),
                KeyError::BadBase64,
            ),
            (
                PKCS1.replace("RSA PRIVATE KEY", "PRIVATE KEY"),
                KeyError::Rejected {
                    reason: "InvalidEncoding".into(),
                },
            ),
        ];
        for (pem, expected) in cases {
            let error = AppKey::from_pem(&Secret::new(pem)).unwrap_err();
            assert_eq!(error, expected);
            assert!(!error.to_string().contains(&body[..20]));
        }
    }

    #[test]
    fn signs_a_jwt_github_accepts() {
        let key = AppKey::from_pem(&Secret::new(PKCS1)).unwrap();
        let jwt = key.sign_jwt(&Issuer::AppId(42), 1_700_000_000).unwrap();
        let parts: Vec<&str> = jwt.expose().split('.').collect();
        assert_eq!(parts.len(), 3);
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(
            claims,
            serde_json::json!({"iat": 1_699_999_940, "exp": 1_700_000_540, "iss": 42})
        );
        let public = ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            key.key_pair.public().as_ref().to_vec(),
        );
        let signed = format!("{}.{}", parts[0], parts[1]);
        public
            .verify(
                signed.as_bytes(),
                &URL_SAFE_NO_PAD.decode(parts[2]).unwrap(),
            )
            .unwrap();
        let by_client = key
            .sign_jwt(&Issuer::ClientId("Iv23abc".into()), 0)
            .unwrap();
        let claims = by_client.expose().split('.').nth(1).unwrap();
        assert!(String::from_utf8(URL_SAFE_NO_PAD.decode(claims).unwrap())
            .unwrap()
            .contains(r#""iss":"Iv23abc""#));
    }
}
