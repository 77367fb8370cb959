//! The main step: inputs -> token -> mask -> outputs -> state.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::{LeastPrivilege, MintConfig, Source};
use crate::credential::{describe_permissions, fingerprint, Credential, Origin, RepositoryScope};
use crate::error::Error;
use crate::github::{self, InstallationTarget};
use crate::http::{Http, RetryPolicy};
use crate::lease::SavedLease;
use crate::permissions::PermissionSet;
use crate::provider::{github_app, oidc_exchange};
use crate::report;
use crate::runner::{Inputs, JobContext, Runner};
use crate::seal;

pub async fn run(
    runner: &mut Runner,
    inputs: &Inputs,
    job: &JobContext,
    budget: Duration,
) -> Result<(), Error> {
    let config = MintConfig::from_inputs(inputs, job)?;
    enforce_least_privilege(&config)?;
    let http = Http::new(RetryPolicy::within(budget))?;
    let credential = match &config.source {
        Source::App(app) => github_app::mint(&http, &config.api, app, &config.permissions).await?,
        Source::Sts(sts) => oidc_exchange::mint(runner, &http, sts, job).await?,
    };
    // Mask first: the runner logs outputs and state at debug level.
    runner.mask(&credential.token);
    let minted_at = report::now_iso();
    let print = fingerprint(&credential.token);
    let token_fields =
        report::token_fields(&credential, &print, config.purpose.as_deref(), &minted_at);

    if let Err(error) = deliver(
        runner,
        &config,
        &credential,
        &token_fields,
        &minted_at,
        &print,
    ) {
        // The token exists but this job can neither use it nor revoke it later: take it
        // back now rather than leave it alive for an hour.
        let revoked =
            github::revoke_installation_token(&http, &config.api, &credential.token).await;
        tracing::debug!(revoked = ?revoked.as_ref().ok(), "revoked after a failed hand-over");
        return Err(error);
    }
    report::minted(runner, job, &credential, &token_fields);
    warn_about_breadth(runner, &config, &credential);
    Ok(())
}

fn deliver(
    runner: &mut Runner,
    config: &MintConfig,
    credential: &Credential,
    token_fields: &serde_json::Map<String, serde_json::Value>,
    minted_at: &str,
    print: &str,
) -> Result<(), Error> {
    runner.set_secret_output("token", &credential.token)?;
    if let Origin::App {
        app_slug,
        installation_id,
        ..
    } = &credential.origin
    {
        runner.set_output("installation-id", &installation_id.to_string())?;
        runner.set_output("app-slug", app_slug)?;
    }
    if let Some(expires_at) = &credential.expires_at {
        runner.set_output("expires-at", expires_at)?;
    }
    if let Some(recipient) = &config.seal_to {
        let sealed = seal::seal(&credential.token, recipient).map_err(|source| Error::Seal {
            input: "seal-to",
            source,
        })?;
        runner.set_output("sealed-token", &sealed)?;
    }
    SavedLease {
        token: Some(credential.token.clone()),
        expires_at: credential.expires_at.clone(),
        api_url: Some(config.api.as_str().to_owned()),
        skip: config.skip_revoke,
        minted_at: Some(minted_at.to_owned()),
        fingerprint: Some(print.to_owned()),
        source: Some(serde_json::Value::Object(token_fields.clone()).to_string()),
        purpose: config.purpose.clone(),
    }
    .save(runner)?;
    Ok(())
}

/// With `least-privilege: enforce`, a request that would inherit every permission or every
/// repository is refused before anything is minted.
fn enforce_least_privilege(config: &MintConfig) -> Result<(), Error> {
    if config.least_privilege != LeastPrivilege::Enforce {
        return Ok(());
    }
    let Source::App(app) = &config.source else {
        // An STS token's scope is the trust policy's, reviewed where the policy lives.
        return Ok(());
    };
    if config.permissions.is_empty() {
        return Err(Error::LeastPrivilege(
            "no permission is named, so the token would inherit every permission of the installation".to_owned(),
        ));
    }
    if matches!(app.target, InstallationTarget::Owner { .. }) {
        return Err(Error::LeastPrivilege(format!(
            "`owner` alone gives the token every repository of the installation on `{}`",
            app.target.owner()
        )));
    }
    Ok(())
}

fn warn_about_breadth(runner: &mut Runner, config: &MintConfig, credential: &Credential) {
    if config.least_privilege == LeastPrivilege::Off {
        return;
    }
    let Source::App(app) = &config.source else {
        return;
    };
    let granted = credential.permissions.clone().unwrap_or_default();
    if config.permissions.is_empty() {
        runner.warning(
            "token-lease: broad token",
            &format!(
                "No permission was named, so the token inherited every permission of the installation: {}. Name only what the job needs with `permission-<name>` inputs or `permissions`, or set `least-privilege: off` to silence this.",
                describe_permissions(&granted)
            ),
        );
    } else {
        compare_grant(runner, &config.permissions, &granted);
    }
    if matches!(app.target, InstallationTarget::Owner { .. })
        && credential.repositories == RepositoryScope::All
    {
        runner.warning(
            "token-lease: broad token",
            &format!(
                "`owner` alone gave the token every repository of the installation on `{}`. List only what the job needs in `repositories`.",
                app.target.owner()
            ),
        );
    }
}

/// GitHub may grant other than asked (it always adds `metadata: read`); say where it differs.
fn compare_grant(runner: &mut Runner, asked: &PermissionSet, granted: &BTreeMap<String, String>) {
    let mut less = Vec::new();
    for (name, level) in asked {
        match granted.get(*name) {
            Some(given) if given == level.as_str() => {}
            Some(given) => less.push(format!("{name}: {given} (asked {level})")),
            None => less.push(format!("{name}: none (asked {level})")),
        }
    }
    let more: Vec<String> = granted
        .iter()
        // GitHub adds `metadata: read` to every installation token; only the rest is news.
        .filter(|(name, level)| {
            let implicit = name.as_str() == "metadata" && level.as_str() == "read";
            !implicit && !asked.contains_key(name.as_str())
        })
        .map(|(name, level)| format!("{name}: {level}"))
        .collect();
    if !less.is_empty() {
        runner.warning(
            "token-lease: grant differs",
            &format!("GitHub granted other than asked: {}", less.join(", ")),
        );
    }
    if !more.is_empty() {
        runner.warning(
            "token-lease: grant differs",
            &format!("GitHub granted more than asked: {}", more.join(", ")),
        );
    }
}
