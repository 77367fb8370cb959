//! Where tokens come from: a GitHub App's own key, or an STS that trusts the job's OIDC token.

pub mod github_app;
pub mod oidc_exchange;
