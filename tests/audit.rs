//! Issue: every token traceable and least-privilege by default.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)]

mod common;

use common::{app_inputs, with, Job};
use fake_github::{FakeConfig, FakeGitHub};
use serde_json::json;
use token_lease::credential::fingerprint;
use token_lease::secret::Secret;

#[test]
fn mint_and_revoke_are_recorded_in_audit_lines_and_the_summary_without_the_token() {
    let fake = FakeGitHub::start(FakeConfig::default());
    let mut job = Job::new(&fake);
    let mut inputs = app_inputs();
    inputs.push((
        "permissions",
        "contents: read\npull-requests: write\n".into(),
    ));
    inputs.push(("purpose", "publish release notes".into()));
    let main = job.main(&common::mint_action(), &with(&inputs));
    main.ok();
    let token = main.outputs["token"].clone();
    let print = fingerprint(&Secret::new(token.as_str()));

    let records = main.audit();
    assert_eq!(records.len(), 1, "{}", main.log);
    let minted = &records[0];
    assert_eq!(minted["event"], "minted");
    assert_eq!(minted["fingerprint"], print);
    assert_eq!(minted["source"], "github-app");
    assert_eq!(minted["app_slug"], fake_github::APP_SLUG);
    assert_eq!(minted["installation_id"], fake_github::ORG_INSTALLATION_ID);
    assert_eq!(minted["owner"], "octo-org");
    assert_eq!(minted["repositories"], json!(["api"]));
    assert_eq!(
        minted["permissions"],
        json!({"contents": "read", "pull_requests": "write"})
    );
    assert_eq!(minted["expires_at"], main.outputs["expires-at"]);
    assert_eq!(minted["purpose"], "publish release notes");
    assert_eq!(
        minted["run_url"],
        "https://github.com/octo-org/api/actions/runs/4242"
    );
    assert_eq!(minted["workflow"], "release");

    for expected in [
        "GitHub App `token-lease-test` (installation 1001)",
        "| Owner | octo-org |",
        "| Repositories | api |",
        "| Permissions granted | contents: read, pull_requests: write |",
        "publish release notes",
        "https://github.com/octo-org/api/actions/runs/4242",
        &print,
        &main.outputs["expires-at"],
    ] {
        assert!(
            main.summary.contains(expected),
            "`{expected}` not in\n{}",
            main.summary
        );
    }
    main.assert_never_shows(&[&token]);
    assert!(!main.summary.contains(&token));

    let post = job.post(&common::mint_action(), &with(&inputs), &main.state);
    post.ok();
    let records = post.audit();
    assert_eq!(records.len(), 1);
    let revoked = &records[0];
    assert_eq!(revoked["event"], "revoked");
    assert_eq!(revoked["fingerprint"], print);
    assert_eq!(revoked["purpose"], "publish release notes");
    assert_eq!(revoked["permissions"], minted["permissions"]);
    assert!(revoked["revoked_at"].as_str().is_some());
    assert!(revoked["lived_seconds"].as_i64().is_some());
    assert!(
        post.summary.contains("| Outcome | revoked |") && post.summary.contains("| Lived |"),
        "{}",
        post.summary
    );
    post.assert_never_shows(&[&token]);
}

#[test]
fn skipped_expired_and_failed_revocations_are_recorded_with_why() {
    let fake = FakeGitHub::start(FakeConfig::default());
    let inputs = common::contents_read();
    let mut job = Job::new(&fake);
    let main = job.main(&common::mint_action(), &with(&inputs));

    let mut expired = main.state.clone();
    expired.insert("expires_at".into(), "2020-01-01T00:00:00Z".into());
    let post = job.post(&common::mint_action(), &with(&inputs), &expired);
    assert_eq!(post.audit()[0]["event"], "revoke_skipped");
    assert!(
        post.summary.contains("not revoked: already expired"),
        "{}",
        post.summary
    );

    for _ in 0..4 {
        fake.inject(fake_github::Route::Revoke, fake_github::Fault::status(500));
    }
    let post = job.post(&common::mint_action(), &with(&inputs), &main.state);
    post.ok();
    assert_eq!(post.audit()[0]["event"], "revoke_failed");
    assert!(post.summary.contains("revoke failed"), "{}", post.summary);

    let mut skip_inputs = inputs.clone();
    skip_inputs.push(("skip-token-revoke", "true".into()));
    let mut job = Job::new(&fake);
    let main = job.main(&common::mint_action(), &with(&skip_inputs));
    let post = job.post(&common::mint_action(), &with(&skip_inputs), &main.state);
    assert_eq!(post.audit()[0]["event"], "revoke_skipped");
    assert!(post.summary.contains("skipped"), "{}", post.summary);
}

#[test]
fn inheriting_everything_warns_with_the_list_and_enforce_refuses() {
    let fake = FakeGitHub::start(FakeConfig::default());
    let step = Job::new(&fake).main(&common::mint_action(), &with(&app_inputs()));
    step.ok();
    let warning = step
        .warnings()
        .into_iter()
        .find(|warning| warning.contains("inherited every permission"))
        .expect("a warning");
    assert!(
        warning.contains(
            "actions: read, contents: write, issues: write, metadata: read, pull_requests: write"
        ),
        "{warning}"
    );
    assert!(
        fake.requests()[1]
            .body
            .as_ref()
            .unwrap()
            .get("permissions")
            .is_none(),
        "nothing asked means inherit"
    );

    let mut quiet = app_inputs();
    quiet.push(("least-privilege", "off".into()));
    let step = Job::new(&fake).main(&common::mint_action(), &with(&quiet));
    step.ok();
    assert!(step.warnings().is_empty(), "{}", step.log);

    fake.clear_requests();
    let mut strict = app_inputs();
    strict.push(("least-privilege", "enforce".into()));
    let step = Job::new(&fake).main(&common::mint_action(), &with(&strict));
    step.failed();
    assert!(fake.requests().is_empty(), "enforce refuses before minting");
}

#[test]
fn yaml_permissions_merge_with_single_inputs_and_conflicts_are_errors() {
    let fake = FakeGitHub::start(FakeConfig::default());
    let mut inputs = app_inputs();
    inputs.push(("permissions", "contents: read\n".into()));
    inputs.push(("permission-issues", "write".into()));
    inputs.push(("permission-contents", "read".into()));
    let step = Job::new(&fake).main(&common::mint_action(), &with(&inputs));
    step.ok();
    assert_eq!(
        fake.requests()[1].body.as_ref().unwrap()["permissions"],
        json!({"contents": "read", "issues": "write"})
    );

    fake.clear_requests();
    for (yaml, single, expected) in [
        (
            "contents: read\n",
            Some(("permission-contents", "write")),
            "named twice with different levels",
        ),
        (
            "contents: read\nissues: sometimes\n",
            None,
            "input `permissions`: line 2, column 9: permission `issues` cannot be `sometimes`",
        ),
        (
            "contents: read\nisues: write\n",
            None,
            "line 2, column 1: unknown permission `isues`",
        ),
        (
            "a: &a [x, x]\nb: [*a, *a]\n",
            None,
            "input `permissions`: line 1, column 7: too complex for a permission mapping",
        ),
        ("{{{{{{{{{{", None, "input `permissions`"),
    ] {
        let mut inputs = app_inputs();
        inputs.push(("permissions", yaml.into()));
        if let Some((name, level)) = single {
            inputs.push((name, level.into()));
        }
        let step = Job::new(&fake).main(&common::mint_action(), &with(&inputs));
        step.failed();
        assert!(
            step.errors()[0].contains(expected),
            "`{expected}` not in {}",
            step.errors()[0]
        );
        assert!(fake.requests().is_empty());
    }
}

#[test]
fn a_grant_other_than_asked_is_a_warning() {
    let fake = FakeGitHub::start(FakeConfig::default());
    let mut inputs = common::contents_read();
    inputs.push(("permission-pull-requests", "write".into()));
    // GitHub adds `metadata: read` to every token: expected, no warning.
    let step = Job::new(&fake).main(&common::mint_action(), &with(&inputs));
    step.ok();
    assert!(step.warnings().is_empty(), "{}", step.log);

    // A grant that differs from the request (as GitHub's answer, verbatim).
    let answer = json!({
        "token": "ghs_16C7e42F292c6912E7710c838347Ae178B4a",
        "expires_at": "2099-01-01T00:00:00Z",
        "permissions": {"contents": "write", "issues": "write", "metadata": "read"},
        "repository_selection": "selected",
        "repositories": [],
    });
    fake.inject(
        fake_github::Route::CreateToken,
        fake_github::Fault::Status {
            status: 201,
            retry_after: None,
            body: Some(answer.to_string()),
        },
    );
    let step = Job::new(&fake).main(&common::mint_action(), &with(&inputs));
    step.ok();
    let warnings = step.warnings().join("\n");
    assert!(warnings.contains("GitHub granted other than asked: contents: write (asked read), pull_requests: none (asked write)"), "{warnings}");
    assert!(
        warnings.contains("GitHub granted more than asked: issues: write"),
        "{warnings}"
    );
    assert!(!warnings.contains("metadata"), "{warnings}");
}

#[test]
fn a_summary_that_cannot_be_written_warns_and_the_lease_goes_on() {
    let fake = FakeGitHub::start(FakeConfig::default());
    let mut job = Job::new(&fake);
    job.set_env("GITHUB_STEP_SUMMARY", "/nonexistent-dir/summary.md");
    let inputs = common::contents_read();
    let main = job.main(&common::mint_action(), &with(&inputs));
    main.ok();
    assert!(
        main.warnings()
            .iter()
            .any(|warning| warning.contains("could not write the job summary")),
        "{}",
        main.log
    );
    assert!(main.state.contains_key("token"));
    let post = job.post(&common::mint_action(), &with(&inputs), &main.state);
    post.ok();
    assert!(fake.token(&main.outputs["token"]).unwrap().revoked);
}

#[test]
fn user_text_cannot_inject_workflow_commands_or_break_the_summary() {
    let fake = FakeGitHub::start(FakeConfig::default());
    let mut job = Job::new(&fake);
    let mut inputs = common::contents_read();
    inputs.push((
        "purpose",
        "deploy\n::error::injected | cell\n::add-mask::x".into(),
    ));
    let main = job.main(&common::mint_action(), &with(&inputs));
    main.ok();
    assert!(
        main.stdout
            .lines()
            .all(|line| !line.starts_with("::error") && line != "::add-mask::x"),
        "{}",
        main.stdout
    );
    assert_eq!(
        main.audit()[0]["purpose"],
        "deploy\n::error::injected | cell\n::add-mask::x"
    );
    let purpose_row = main
        .summary
        .lines()
        .find(|line| line.starts_with("| Purpose |"))
        .unwrap();
    assert_eq!(
        purpose_row,
        "| Purpose | deploy ::error::injected \\| cell ::add-mask::x |"
    );
    let post = job.post(&common::mint_action(), &with(&inputs), &main.state);
    assert!(
        post.stdout.lines().all(|line| !line.starts_with("::error")),
        "{}",
        post.stdout
    );
}
