//! RS256 JWTs with ring: parse both PEM forms GitHub users meet, sign, verify.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self, RsaKeyPair, UnparsedPublicKey};
use serde_json::{Map, Value};

/// Reads a PKCS#1 (`BEGIN RSA PRIVATE KEY`) or PKCS#8 (`BEGIN PRIVATE KEY`) RSA key.
pub fn key_pair(pem: &str) -> Result<RsaKeyPair, String> {
    let pkcs1 = pem.contains("BEGIN RSA PRIVATE KEY");
    let body: String = pem
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("-----"))
        .collect();
    let der = STANDARD
        .decode(body)
        .map_err(|err| format!("PEM is not base64: {err}"))?;
    let pair = if pkcs1 {
        RsaKeyPair::from_der(&der)
    } else {
        RsaKeyPair::from_pkcs8(&der)
    };
    pair.map_err(|err| format!("not an RSA private key: {err}"))
}

/// The DER `RSAPublicKey` of a private key, the form ring verifies with.
pub fn public_key(pem: &str) -> Result<Vec<u8>, String> {
    Ok(key_pair(pem)?.public().as_ref().to_vec())
}

/// Signs `header.claims` with RS256.
pub fn sign_jwt(pair: &RsaKeyPair, header: &Value, claims: &Value) -> Result<String, String> {
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let mut signature = vec![0; pair.public().modulus_len()];
    pair.sign(
        &signature::RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        signing_input.as_bytes(),
        &mut signature,
    )
    .map_err(|_| "signing failed".to_owned())?;
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))
}

/// Why a JWT was refused before its claims were looked at.
#[derive(Debug, PartialEq, Eq)]
pub enum JwtError {
    /// Not three base64url parts, not JSON objects, or not `alg: RS256`.
    Malformed(String),
    /// Well formed but the signature does not verify.
    BadSignature,
}

/// A JWT split and decoded, not yet verified.
pub struct Jwt {
    pub header: Map<String, Value>,
    pub claims: Map<String, Value>,
    signing_input: String,
    signature: Vec<u8>,
}

impl Jwt {
    pub fn parse(token: &str) -> Result<Jwt, JwtError> {
        let parts: Vec<&str> = token.split('.').collect();
        let [header, claims, signature] = parts.as_slice() else {
            return Err(JwtError::Malformed(format!(
                "expected 3 dot-separated parts, got {}",
                parts.len()
            )));
        };
        let object = |part: &str, what: &str| -> Result<Map<String, Value>, JwtError> {
            let bytes = URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|err| JwtError::Malformed(format!("{what} is not base64url: {err}")))?;
            match serde_json::from_slice(&bytes) {
                Ok(Value::Object(object)) => Ok(object),
                _ => Err(JwtError::Malformed(format!("{what} is not a JSON object"))),
            }
        };
        let header_object = object(header, "header")?;
        if header_object.get("alg").and_then(Value::as_str) != Some("RS256") {
            return Err(JwtError::Malformed("alg is not RS256".to_owned()));
        }
        let claims_object = object(claims, "claims")?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|err| JwtError::Malformed(format!("signature is not base64url: {err}")))?;
        Ok(Jwt {
            header: header_object,
            claims: claims_object,
            signing_input: format!("{header}.{claims}"),
            signature,
        })
    }

    pub fn verify(&self, public_key_der: &[u8]) -> Result<(), JwtError> {
        UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, public_key_der)
            .verify(self.signing_input.as_bytes(), &self.signature)
            .map_err(|_| JwtError::BadSignature)
    }
}

pub fn random_bytes(len: usize) -> Vec<u8> {
    let mut bytes = vec![0; len];
    // SystemRandom only fails when the OS has no entropy source; a fake can live with zeros.
    let _ = SystemRandom::new().fill(&mut bytes);
    bytes
}

/// `len` characters of `[A-Za-z0-9]`, like the body of a classic `ghs_` token.
pub fn random_alphanumeric(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for byte in random_bytes(len * 2) {
            // Rejection sampling keeps the distribution uniform (248 = 4 * 62).
            if byte < 248 && out.len() < len {
                out.push(ALPHABET[usize::from(byte) % ALPHABET.len()] as char);
            }
        }
    }
    out
}

pub fn b64url(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A stable key id for the issuer's JWK (first bytes of the public key's SHA-256).
pub fn key_id(public_key_der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, public_key_der);
    digest.as_ref()[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys;
    use serde_json::json;

    #[test]
    fn both_pem_forms_are_the_same_key() {
        let pkcs1 = public_key(keys::APP_KEY_PKCS1_PEM).unwrap();
        let pkcs8 = public_key(keys::APP_KEY_PKCS8_PEM).unwrap();
        assert_eq!(pkcs1, pkcs8);
        assert_ne!(pkcs8, public_key(keys::WRONG_KEY_PKCS8_PEM).unwrap());
        assert!(key_pair("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----").is_err());
    }

    #[test]
    fn sign_then_verify() {
        let pair = key_pair(keys::APP_KEY_PKCS1_PEM).unwrap();
        let token = sign_jwt(&pair, &json!({"alg": "RS256"}), &json!({"iss": 1})).unwrap();
        let jwt = Jwt::parse(&token).unwrap();
        assert_eq!(jwt.claims["iss"], 1);
        jwt.verify(&public_key(keys::APP_KEY_PKCS8_PEM).unwrap())
            .unwrap();
        assert_eq!(
            jwt.verify(&public_key(keys::WRONG_KEY_PKCS8_PEM).unwrap()),
            Err(JwtError::BadSignature)
        );
        assert!(matches!(Jwt::parse("a.b"), Err(JwtError::Malformed(_))));
        assert!(matches!(
            Jwt::parse(&format!("{token}=")),
            Err(JwtError::Malformed(_))
        ));
        let hs = format!("{}.{}.", b64url(r#"{"alg":"HS256"}"#), b64url("{}"));
        assert!(matches!(Jwt::parse(&hs), Err(JwtError::Malformed(_))));
    }

    #[test]
    fn classic_token_alphabet() {
        let body = random_alphanumeric(36);
        assert_eq!(body.len(), 36);
        assert!(body.bytes().all(|b| b.is_ascii_alphanumeric()));
    }
}
