//! Traceability: a log line, one audit record (a JSON line under a fixed prefix) and a job
//! summary section for every mint and every revoke. None of it carries the token: only its
//! SHA-256 fingerprint. A failure to write any of it warns and never costs the token or its
//! revocation.

use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::credential::{describe_permissions, Credential, Origin, RepositoryScope};
use crate::lease::SavedLease;
use crate::runner::{JobContext, Runner};

pub fn now_iso() -> String {
    iso(OffsetDateTime::now_utc())
}

pub fn iso(at: OffsetDateTime) -> String {
    at.replace_nanosecond(0)
        .unwrap_or(at)
        .format(&Rfc3339)
        .unwrap_or_default()
}

pub fn parse_iso(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text.trim(), &Rfc3339).ok()
}

/// The fields that describe a token, shared by the mint record and (through state) every
/// later record about the same token.
pub fn token_fields(
    credential: &Credential,
    fingerprint: &str,
    purpose: Option<&str>,
    minted_at: &str,
) -> Map<String, Value> {
    let mut fields = Map::new();
    fields.insert("fingerprint".into(), json!(fingerprint));
    match &credential.origin {
        Origin::App {
            app_slug,
            installation_id,
            issuer,
        } => {
            fields.insert("source".into(), json!("github-app"));
            fields.insert("app_slug".into(), json!(app_slug));
            fields.insert("installation_id".into(), json!(installation_id));
            fields.insert("app".into(), json!(issuer));
        }
        Origin::Sts {
            sts_url,
            scope,
            identity,
        } => {
            fields.insert("source".into(), json!("sts"));
            fields.insert("sts_url".into(), json!(sts_url));
            fields.insert("scope".into(), json!(scope));
            fields.insert("identity".into(), json!(identity));
        }
    }
    fields.insert("owner".into(), json!(credential.owner));
    fields.insert(
        "repositories".into(),
        match &credential.repositories {
            RepositoryScope::All => json!("all"),
            RepositoryScope::Selected(names) => json!(names),
            RepositoryScope::Unknown => Value::Null,
        },
    );
    fields.insert("permissions".into(), json!(credential.permissions));
    fields.insert("expires_at".into(), json!(credential.expires_at));
    fields.insert("purpose".into(), json!(purpose));
    fields.insert("minted_at".into(), json!(minted_at));
    fields
}

fn job_fields(job: &JobContext) -> Map<String, Value> {
    let mut fields = Map::new();
    fields.insert("repository".into(), json!(job.repository));
    fields.insert("workflow".into(), json!(job.workflow));
    fields.insert("job".into(), json!(job.job));
    fields.insert("run_id".into(), json!(job.run_id));
    fields.insert("run_attempt".into(), json!(job.run_attempt));
    fields.insert("run_url".into(), json!(job.run_url()));
    fields.insert("actor".into(), json!(job.actor));
    fields
}

fn record(
    event: &str,
    token: &Map<String, Value>,
    job: &JobContext,
    extra: Map<String, Value>,
) -> Value {
    let mut all = Map::new();
    all.insert("event".into(), json!(event));
    all.insert("at".into(), json!(now_iso()));
    all.extend(token.clone());
    all.extend(job_fields(job));
    all.extend(extra);
    Value::Object(all)
}

pub fn minted(
    runner: &mut Runner,
    job: &JobContext,
    credential: &Credential,
    token: &Map<String, Value>,
) {
    let expires = credential
        .expires_at
        .as_deref()
        .unwrap_or("not reported (installation tokens live one hour)");
    let permissions = credential
        .permissions
        .as_ref()
        .map(describe_permissions)
        .unwrap_or_else(|| "as the trust policy grants (not reported by the STS)".to_owned());
    let fingerprint = token
        .get("fingerprint")
        .and_then(Value::as_str)
        .unwrap_or_default();
    runner.info(&format!(
        "Minted a token from {} for {} ({}); permissions: {permissions}; expires {expires}; fingerprint {fingerprint}",
        credential.origin.describe(),
        credential.owner,
        credential.repositories.describe(),
    ));
    runner.audit(&record("minted", token, job, Map::new()));

    let mut rows = vec![
        ("Source", credential.origin.describe()),
        ("Owner", credential.owner.clone()),
        ("Repositories", credential.repositories.describe()),
        ("Permissions granted", permissions),
        ("Expires", expires.to_owned()),
        (
            "Purpose",
            text(token.get("purpose")).unwrap_or_else(|| "not given (`purpose` input)".to_owned()),
        ),
    ];
    rows.extend(trailer_rows(job, fingerprint));
    summary(runner, "Token minted", &rows);
}

/// What is known of a token that arrived sealed: only its fingerprint and when it was opened
/// (the rest was recorded by the job that minted it).
pub fn opened_fields(fingerprint: &str, opened_at: &str) -> Map<String, Value> {
    let mut fields = Map::new();
    fields.insert("fingerprint".into(), json!(fingerprint));
    fields.insert("source".into(), json!("sealed-token"));
    fields.insert("opened_at".into(), json!(opened_at));
    fields
}

/// The last rows of every summary section: the run, and which token it was.
fn trailer_rows(job: &JobContext, fingerprint: &str) -> Vec<(&'static str, String)> {
    let mut rows = Vec::new();
    if let Some(url) = job.run_url() {
        let run = job.run_id.as_deref().unwrap_or("run");
        rows.push(("Workflow run", format!("[{run}]({url})")));
    }
    rows.push(("Fingerprint", format!("`{fingerprint}`")));
    rows
}

/// The `open` action received a sealed token from another job.
pub fn opened(
    runner: &mut Runner,
    job: &JobContext,
    fingerprint: &str,
    opened_at: &str,
    skip_revoke: bool,
) {
    let owner_of_revocation = if skip_revoke {
        "not this job (`skip-token-revoke` is true)"
    } else {
        "this job's post step"
    };
    runner.info(&format!(
        "Opened the sealed token (fingerprint {fingerprint}); revoked by {owner_of_revocation}"
    ));
    runner.audit(&record(
        "opened",
        &opened_fields(fingerprint, opened_at),
        job,
        Map::new(),
    ));
    let mut rows = vec![
        ("Source", "a sealed token from an earlier job".to_owned()),
        ("Revoked by", owner_of_revocation.to_owned()),
    ];
    rows.extend(trailer_rows(job, fingerprint));
    summary(runner, "Sealed token opened", &rows);
}

/// Why the post step did or did not revoke.
#[derive(Debug, PartialEq, Eq)]
pub enum RevokeOutcome {
    Revoked,
    AlreadyInvalid,
    Skipped,
    Expired,
    NothingSaved,
    Failed(String),
}

pub fn revoke_outcome(
    runner: &mut Runner,
    job: &JobContext,
    lease: &SavedLease,
    outcome: &RevokeOutcome,
) {
    let token: Map<String, Value> = lease
        .source
        .as_deref()
        .and_then(|fields| serde_json::from_str::<Map<String, Value>>(fields).ok())
        .unwrap_or_default();
    let revoked_at = now_iso();
    let lived = lease
        .minted_at
        .as_deref()
        .and_then(parse_iso)
        .map(|minted| (OffsetDateTime::now_utc() - minted).whole_seconds().max(0));
    let (event, line, status) = match outcome {
        RevokeOutcome::Revoked => (
            "revoked",
            "Revoked the token.".to_owned(),
            "revoked".to_owned(),
        ),
        RevokeOutcome::AlreadyInvalid => (
            "revoked",
            "The token was already revoked or expired; nothing left to revoke.".to_owned(),
            "already revoked or expired".to_owned(),
        ),
        RevokeOutcome::Skipped => (
            "revoke_skipped",
            "Not revoking: `skip-token-revoke` is true, so another step or job owns revocation."
                .to_owned(),
            "not revoked: skipped (`skip-token-revoke`)".to_owned(),
        ),
        RevokeOutcome::Expired => (
            "revoke_skipped",
            "Not revoking: the token has already expired.".to_owned(),
            "not revoked: already expired".to_owned(),
        ),
        RevokeOutcome::NothingSaved => {
            runner.info("Nothing to revoke: the main step saved no token (it failed before minting, or did not run).");
            return;
        }
        RevokeOutcome::Failed(cause) => (
            "revoke_failed",
            format!("Could not revoke the token: {cause}"),
            format!("revoke failed: {cause}"),
        ),
    };
    if matches!(outcome, RevokeOutcome::Failed(_)) {
        runner.warning(
            "token-lease: revoke failed",
            &format!(
                "{line} It stays valid until it expires{}.",
                lease
                    .expires_at
                    .as_deref()
                    .map(|at| format!(" at {at}"))
                    .unwrap_or_default()
            ),
        );
    } else {
        runner.info(&line);
    }
    let mut extra = Map::new();
    extra.insert("outcome".into(), json!(status));
    if event == "revoked" {
        extra.insert("revoked_at".into(), json!(revoked_at));
    }
    extra.insert("lived_seconds".into(), json!(lived));
    let mut fields = token.clone();
    if fields.get("fingerprint").is_none() {
        fields.insert("fingerprint".into(), json!(lease.fingerprint));
    }
    runner.audit(&record(event, &fields, job, extra));

    let mut rows = vec![("Outcome", status)];
    if event == "revoked" {
        rows.push(("Revoked at", revoked_at));
    }
    if let Some(lived) = lived {
        rows.push(("Lived", format!("{}m {:02}s", lived / 60, lived % 60)));
    }
    if let Some(fingerprint) = &lease.fingerprint {
        rows.push(("Fingerprint", format!("`{fingerprint}`")));
    }
    summary(runner, "Token revocation", &rows);
}

fn text(value: Option<&Value>) -> Option<String> {
    value.and_then(Value::as_str).map(str::to_owned)
}

fn summary(runner: &mut Runner, heading: &str, rows: &[(&str, String)]) {
    let mut markdown = format!("### token-lease: {heading}\n\n| | |\n|---|---|\n");
    for (name, value) in rows {
        markdown.push_str(&format!("| {name} | {} |\n", escape_cell(value)));
    }
    markdown.push('\n');
    if let Err(error) = runner.append_summary(&markdown) {
        runner.warning(
            "token-lease: job summary",
            &format!("could not write the job summary: {error}"),
        );
    }
}

/// Keeps user text (a purpose, a GitHub message) inside its table cell.
fn escape_cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}
