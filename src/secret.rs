//! The one type every credential lives in: token, private key, app JWT, OIDC token, seal key.
//!
//! It has no `Display`, its `Debug` prints `***`, and its memory is wiped on drop, so a
//! credential can only leave through an explicit `expose()` at the few places that must see it
//! (the mask command, the output file, the seal, a request header).

use std::fmt;
use zeroize::{Zeroize, Zeroizing};

#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(Zeroizing::new(value.into()))
    }

    /// The credential itself. Every call site is a place where it may leave the process.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(mut value: String) -> Self {
        let secret = Secret::new(value.as_str());
        value.zeroize();
        secret
    }
}

/// Reads a credential straight out of a response body into wiped memory.
impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret::from)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let secret = Secret::new("ghs_supersecret");
        assert_eq!(format!("{secret:?}"), "Secret(***)");
        assert_eq!(format!("{:?}", Some(&secret)), "Some(Secret(***))");
        assert_eq!(secret.expose(), "ghs_supersecret");
    }
}
