//! token-lease: a short-lived, least-privilege GitHub token for a CI job, revoked when the
//! job ends. The binaries are thin; everything lives here.
#![forbid(unsafe_code)]

pub mod app_key;
pub mod config;
pub mod credential;
pub mod entry;
pub mod error;
pub mod github;
pub mod http;
pub mod lease;
pub mod mint;
pub mod open;
pub mod permissions;
pub mod post;
pub mod provider;
pub mod report;
pub mod runner;
pub mod seal;
pub mod secret;
