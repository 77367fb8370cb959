//! What main hands to post through the runner's state, and reads back there.

use crate::runner::{self, Runner, RunnerError};
use crate::secret::Secret;

/// State names. `STATE_<name>` in the post step.
pub mod key {
    pub const TOKEN: &str = "token";
    pub const EXPIRES_AT: &str = "expires_at";
    pub const API_URL: &str = "api_url";
    pub const REVOKE: &str = "revoke";
    pub const MINTED_AT: &str = "minted_at";
    pub const FINGERPRINT: &str = "fingerprint";
    pub const SOURCE: &str = "source";
    pub const PURPOSE: &str = "purpose";
}

/// How the post step should treat the lease.
pub const REVOKE_SKIP: &str = "skip";

/// A lease as saved by main (or `open`) for the post step.
#[derive(Debug, Default)]
pub struct SavedLease {
    pub token: Option<Secret>,
    pub expires_at: Option<String>,
    pub api_url: Option<String>,
    pub skip: bool,
    pub minted_at: Option<String>,
    pub fingerprint: Option<String>,
    pub source: Option<String>,
    pub purpose: Option<String>,
}

impl SavedLease {
    pub fn from_state() -> SavedLease {
        SavedLease {
            token: runner::saved_state(key::TOKEN).map(Secret::from),
            expires_at: runner::saved_state(key::EXPIRES_AT),
            api_url: runner::saved_state(key::API_URL),
            skip: runner::saved_state(key::REVOKE).as_deref() == Some(REVOKE_SKIP),
            minted_at: runner::saved_state(key::MINTED_AT),
            fingerprint: runner::saved_state(key::FINGERPRINT),
            source: runner::saved_state(key::SOURCE),
            purpose: runner::saved_state(key::PURPOSE),
        }
    }

    /// Saves the lease. With `skip`, the token itself is not stored: what will not be
    /// revoked need not sit in state.
    pub fn save(&self, runner: &mut Runner) -> Result<(), RunnerError> {
        if self.skip {
            runner.save_state(key::REVOKE, REVOKE_SKIP)?;
        } else if let Some(token) = &self.token {
            runner.save_secret_state(key::TOKEN, token)?;
        }
        let plain = [
            (key::EXPIRES_AT, &self.expires_at),
            (key::API_URL, &self.api_url),
            (key::MINTED_AT, &self.minted_at),
            (key::FINGERPRINT, &self.fingerprint),
            (key::SOURCE, &self.source),
            (key::PURPOSE, &self.purpose),
        ];
        for (name, value) in plain {
            if let Some(value) = value {
                runner.save_state(name, value)?;
            }
        }
        Ok(())
    }
}
