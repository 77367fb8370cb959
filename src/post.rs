//! The post step: revoke what main (or `open`) leased. Best effort by design: it never fails
//! the job, because a job must not fail for its cleanup.

use std::time::Duration;

use crate::github::{self, Revoked};
use crate::http::{BaseUrl, Http, RetryPolicy};
use crate::lease::SavedLease;
use crate::report::{self, RevokeOutcome};
use crate::runner::{Inputs, JobContext, Runner};

pub async fn run(runner: &mut Runner, inputs: &Inputs, job: &JobContext, budget: Duration) {
    let lease = SavedLease::from_state();
    let outcome = revoke(runner, inputs, job, &lease, budget).await;
    report::revoke_outcome(runner, job, &lease, &outcome);
}

async fn revoke(
    runner: &mut Runner,
    inputs: &Inputs,
    job: &JobContext,
    lease: &SavedLease,
    budget: Duration,
) -> RevokeOutcome {
    let skip_input = crate::config::boolean(inputs, "skip-token-revoke")
        .ok()
        .flatten();
    if lease.skip || skip_input == Some(true) {
        return RevokeOutcome::Skipped;
    }
    let Some(token) = &lease.token else {
        return RevokeOutcome::NothingSaved;
    };
    // Masked in main already (masks last the whole job); again here costs nothing and covers
    // a post step whose main ran under another masker.
    runner.mask(token);
    if let Some(expires_at) = lease.expires_at.as_deref().and_then(report::parse_iso) {
        if expires_at <= time::OffsetDateTime::now_utc() {
            return RevokeOutcome::Expired;
        }
    }
    let api = match lease.api_url.as_deref().map(BaseUrl::parse) {
        Some(Ok(api)) => api,
        _ => match crate::config::api_url(inputs, job) {
            Ok(api) => api,
            Err(error) => return RevokeOutcome::Failed(error.to_string()),
        },
    };
    let http = match Http::new(RetryPolicy::within(budget)) {
        Ok(http) => http,
        Err(error) => return RevokeOutcome::Failed(error.to_string()),
    };
    match github::revoke_installation_token(&http, &api, token).await {
        Ok(Revoked::Now) => RevokeOutcome::Revoked,
        Ok(Revoked::AlreadyInvalid) => RevokeOutcome::AlreadyInvalid,
        Err(error) => RevokeOutcome::Failed(error.to_string()),
    }
}
