//! The whole lease through the real binaries: mint -> mask -> outputs -> state -> revoke.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)]

mod common;

use std::collections::BTreeMap;

use common::{app_inputs, with, Job};
use fake_github::{
    FakeConfig, FakeGitHub, TokenFormat, APP_ID, APP_SLUG, CLIENT_ID, ORG_INSTALLATION_ID,
    USER_INSTALLATION_ID,
};
use serde_json::json;

fn lines(fake: &FakeGitHub) -> Vec<String> {
    fake.requests()
        .iter()
        .map(|request| request.line())
        .collect()
}

#[test]
fn mints_for_the_current_repository_and_revokes_in_post() {
    let fake = FakeGitHub::start(FakeConfig::default());
    let mut job = Job::new(&fake);
    let mut inputs = common::contents_read();
    inputs.push(("permission-pull-requests", "write".into()));
    let main = job.main(&common::mint_action(), &with(&inputs));
    main.ok();

    let token = main.outputs["token"].clone();
    assert!(token.starts_with("ghs_") && token.len() == 40, "{token}");
    main.assert_masked_first(&token);
    assert_eq!(
        main.outputs["installation-id"],
        ORG_INSTALLATION_ID.to_string()
    );
    assert_eq!(main.outputs["app-slug"], APP_SLUG);
    let issued = fake.token(&token).unwrap();
    assert_eq!(main.outputs["expires-at"], issued.expires_at);
    assert!(!issued.revoked);
    assert_eq!(issued.installation_id, ORG_INSTALLATION_ID);
    assert_eq!(issued.repositories, Some(vec!["api".to_owned()]));
    let expected: BTreeMap<String, String> = [("contents", "read"), ("pull_requests", "write")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(issued.permissions, expected);

    // Exactly two requests, with the headers GitHub asks for and the body the schema allows.
    assert_eq!(
        lines(&fake),
        [
            "GET /repos/octo-org/api/installation",
            "POST /app/installations/1001/access_tokens"
        ]
    );
    let requests = fake.requests();
    for request in &requests {
        // One User-Agent, ours, so GitHub's audit log names this client.
        let agents: Vec<_> = request
            .headers
            .iter()
            .filter(|(name, _)| name == "user-agent")
            .collect();
        assert_eq!(agents.len(), 1, "{:?}", request.headers);
        assert_eq!(
            request.header("user-agent"),
            Some(concat!("token-lease/", env!("CARGO_PKG_VERSION")))
        );
        assert_eq!(
            request.header("accept"),
            Some("application/vnd.github+json")
        );
        assert_eq!(request.header("x-github-api-version"), Some("2022-11-28"));
    }
    assert_eq!(
        requests[1].body,
        Some(
            json!({"repositories": ["api"], "permissions": {"contents": "read", "pull_requests": "write"}})
        )
    );
    let jwt = requests[0]
        .header("authorization")
        .unwrap()
        .trim_start_matches("Bearer ")
        .to_owned();

    // State for post: the token, and no secret anywhere a person could read.
    assert_eq!(main.state["token"], token);
    assert_eq!(main.state["api_url"], fake.api_url());
    main.assert_never_shows(&[&token, common::app_key(), &jwt]);
    assert!(main.log.contains("::add-mask::***"), "{}", main.log);

    fake.clear_requests();
    let post = job.post(&common::mint_action(), &with(&inputs), &main.state);
    post.ok();
    assert_eq!(lines(&fake), ["DELETE /installation/token"]);
    let revoke = &fake.requests()[0];
    assert_eq!(
        revoke.header("authorization"),
        Some(format!("token {token}").as_str())
    );
    assert_eq!(revoke.status, 204);
    assert!(fake.token(&token).unwrap().revoked);
    assert!(post.log.contains("Revoked the token."), "{}", post.log);
    post.assert_never_shows(&[&token]);
}

#[test]
fn client_id_pkcs8_and_escaped_newlines_all_work() {
    let fake = FakeGitHub::start(FakeConfig::default());
    let escaped = common::app_key().replace('\n', "\\n");
    let cases: Vec<Vec<(&str, String)>> = vec![
        vec![
            ("client-id", CLIENT_ID.into()),
            ("private-key", common::app_key().into()),
        ],
        vec![
            ("app-id", APP_ID.to_string()),
            ("private-key", fake_github::keys::APP_KEY_PKCS8_PEM.into()),
        ],
        vec![("app-id", APP_ID.to_string()), ("private-key", escaped)],
        // Both given: the client ID is the issuer.
        vec![
            ("app-id", "999".into()),
            ("client-id", CLIENT_ID.into()),
            ("private-key", common::app_key().into()),
        ],
    ];
    for inputs in cases {
        let mut job = Job::new(&fake);
        let mut inputs = inputs;
        inputs.push(("permission-metadata", "read".into()));
        let step = job.main(&common::mint_action(), &with(&inputs));
        step.ok();
        assert!(fake.token(&step.outputs["token"]).is_some());
    }
}

#[test]
fn owner_alone_covers_every_repository_and_warns() {
    let fake = FakeGitHub::start(FakeConfig::default());
    let mut job = Job::new(&fake);
    let mut inputs = app_inputs();
    inputs.push(("owner", "octo-org".into()));
    inputs.push(("permission-issues", "write".into()));
    let step = job.main(&common::mint_action(), &with(&inputs));
    step.ok();
    assert_eq!(
        lines(&fake),
        [
            "GET /users/octo-org/installation",
            "POST /app/installations/1001/access_tokens"
        ]
    );
    assert_eq!(
        fake.requests()[1].body,
        Some(json!({"permissions": {"issues": "write"}}))
    );
    assert_eq!(
        fake.token(&step.outputs["token"]).unwrap().repositories,
        None
    );
    assert!(
        step.warnings()
            .iter()
            .any(|warning| warning.contains("every repository of the installation on `octo-org`")),
        "{}",
        step.log
    );
}

#[test]
fn repositories_are_split_trimmed_and_owner_prefixes_accepted() {
    let fake = FakeGitHub::start(FakeConfig::default());
    let mut job = Job::new(&fake);
    let mut inputs = app_inputs();
    inputs.push(("repositories", " api, octo-org/web\n  docs ,\n".into()));
    inputs.push(("permission-contents", "read".into()));
    let step = job.main(&common::mint_action(), &with(&inputs));
    step.ok();
    assert_eq!(
        lines(&fake),
        [
            "GET /repos/octo-org/api/installation",
            "POST /app/installations/1001/access_tokens"
        ]
    );
    assert_eq!(
        fake.requests()[1].body,
        Some(json!({"repositories": ["api", "web", "docs"], "permissions": {"contents": "read"}}))
    );
}

#[test]
fn repositories_under_another_owner_use_that_installation() {
    let fake = FakeGitHub::start(FakeConfig::default());
    let mut job = Job::new(&fake);
    let mut inputs = app_inputs();
    inputs.push(("owner", "octocat".into()));
    inputs.push(("repositories", "dotfiles".into()));
    inputs.push(("permission-contents", "read".into()));
    let step = job.main(&common::mint_action(), &with(&inputs));
    step.ok();
    assert_eq!(
        step.outputs["installation-id"],
        USER_INSTALLATION_ID.to_string()
    );
    assert_eq!(lines(&fake)[0], "GET /repos/octocat/dotfiles/installation");
}

#[test]
fn enterprise_server_api_path_is_kept_for_every_call() {
    let fake = FakeGitHub::start(FakeConfig {
        path_prefix: "/api/v3".into(),
        ..FakeConfig::default()
    });
    let mut job = Job::new(&fake);
    assert!(fake.api_url().ends_with("/api/v3"));
    let inputs = common::contents_read();
    let main = job.main(&common::mint_action(), &with(&inputs));
    main.ok();
    let post = job.post(&common::mint_action(), &with(&inputs), &main.state);
    post.ok();
    assert_eq!(
        lines(&fake),
        [
            "GET /api/v3/repos/octo-org/api/installation",
            "POST /api/v3/app/installations/1001/access_tokens",
            "DELETE /api/v3/installation/token",
        ]
    );
    assert!(fake.token(&main.outputs["token"]).unwrap().revoked);
}

#[test]
fn github_api_url_input_wins_over_the_environment_and_may_end_in_a_slash() {
    let fake = FakeGitHub::start(FakeConfig {
        path_prefix: "/api/v3".into(),
        ..FakeConfig::default()
    });
    let mut job = Job::new(&fake);
    job.set_env("GITHUB_API_URL", "http://127.0.0.1:9/unused");
    let mut inputs = app_inputs();
    inputs.push(("github-api-url", format!("{}/", fake.api_url())));
    inputs.push(("permission-contents", "read".into()));
    let main = job.main(&common::mint_action(), &with(&inputs));
    main.ok();
    job.post(&common::mint_action(), &with(&inputs), &main.state)
        .ok();
    assert!(fake.token(&main.outputs["token"]).unwrap().revoked);
}

#[test]
fn long_stateless_tokens_are_masked_and_revoked() {
    let fake = FakeGitHub::start(FakeConfig {
        token_format: TokenFormat::Stateless,
        ..FakeConfig::default()
    });
    let mut job = Job::new(&fake);
    let inputs = common::contents_read();
    let main = job.main(&common::mint_action(), &with(&inputs));
    main.ok();
    let token = main.outputs["token"].clone();
    assert!(token.starts_with(&format!("ghs_{APP_ID}_")) && token.len() > 200);
    main.assert_masked_first(&token);
    main.assert_never_shows(&[&token]);
    job.post(&common::mint_action(), &with(&inputs), &main.state)
        .ok();
    assert!(fake.token(&token).unwrap().revoked);
}

#[test]
fn skip_token_revoke_keeps_the_token_out_of_state_and_post_does_nothing() {
    let fake = FakeGitHub::start(FakeConfig::default());
    for spelling in ["true", "True", "TRUE"] {
        let mut job = Job::new(&fake);
        let mut inputs = app_inputs();
        inputs.push(("skip-token-revoke", spelling.into()));
        inputs.push(("permission-contents", "read".into()));
        let main = job.main(&common::mint_action(), &with(&inputs));
        main.ok();
        assert!(!main.state.contains_key("token"));
        assert_eq!(main.state["revoke"], "skip");
        fake.clear_requests();
        let post = job.post(&common::mint_action(), &with(&inputs), &main.state);
        post.ok();
        assert!(fake.requests().is_empty());
        assert!(!fake.token(&main.outputs["token"]).unwrap().revoked);
        assert!(post.log.contains("skip-token-revoke"), "{}", post.log);
    }
}

#[test]
fn post_without_state_or_with_an_expired_token_makes_no_request() {
    let fake = FakeGitHub::start(FakeConfig::default());
    let mut job = Job::new(&fake);
    let post = job.post(
        &common::mint_action(),
        &with(&app_inputs()),
        &BTreeMap::new(),
    );
    post.ok();
    assert!(post.log.contains("Nothing to revoke"), "{}", post.log);

    let inputs = common::contents_read();
    let main = job.main(&common::mint_action(), &with(&inputs));
    main.ok();
    fake.clear_requests();
    let mut state = main.state.clone();
    state.insert("expires_at".into(), "2020-01-01T00:00:00Z".into());
    let post = job.post(&common::mint_action(), &with(&inputs), &state);
    post.ok();
    assert!(fake.requests().is_empty());
    assert!(post.log.contains("already expired"), "{}", post.log);
}

#[test]
fn a_token_already_revoked_is_not_an_error() {
    let fake = FakeGitHub::start(FakeConfig::default());
    let mut job = Job::new(&fake);
    let inputs = common::contents_read();
    let main = job.main(&common::mint_action(), &with(&inputs));
    job.post(&common::mint_action(), &with(&inputs), &main.state)
        .ok();
    let again = job.post(&common::mint_action(), &with(&inputs), &main.state);
    again.ok();
    assert!(again.warnings().is_empty(), "{}", again.log);
    assert!(
        again.log.contains("already revoked or expired"),
        "{}",
        again.log
    );
}

#[test]
fn a_failed_revoke_is_retried_then_only_warns() {
    let fake = FakeGitHub::start(FakeConfig::default());
    let mut job = Job::new(&fake);
    let inputs = common::contents_read();
    let main = job.main(&common::mint_action(), &with(&inputs));
    main.ok();
    fake.clear_requests();
    for _ in 0..4 {
        fake.inject(fake_github::Route::Revoke, fake_github::Fault::status(502));
    }
    let post = job.post(&common::mint_action(), &with(&inputs), &main.state);
    post.ok();
    assert_eq!(lines(&fake).len(), 4, "{:?}", lines(&fake));
    let warnings = post.warnings();
    assert!(
        warnings.iter().any(
            |warning| warning.contains("Could not revoke the token") && warning.contains("502")
        ),
        "{}",
        post.log
    );
    assert!(!fake.token(&main.outputs["token"]).unwrap().revoked);
    post.assert_never_shows(&[&main.outputs["token"]]);

    // A transient failure is absorbed by a retry.
    fake.clear_requests();
    fake.inject(
        fake_github::Route::Revoke,
        fake_github::Fault::Status {
            status: 503,
            retry_after: Some(1),
            body: None,
        },
    );
    job.post(&common::mint_action(), &with(&inputs), &main.state)
        .ok();
    assert_eq!(
        lines(&fake),
        ["DELETE /installation/token", "DELETE /installation/token"]
    );
    assert!(fake.token(&main.outputs["token"]).unwrap().revoked);
}

#[test]
fn no_secret_leaks_with_every_log_turned_up() {
    let fake = FakeGitHub::start(FakeConfig::default());
    let mut job = Job::new(&fake);
    job.set_env("RUST_LOG", "trace");
    job.set_env("RUNNER_DEBUG", "1");
    let mut inputs = common::contents_read();
    inputs.push((
        "seal-to",
        "hBcd0ZGsjSgo/Xz/6pvlNK5jLTfgSlsRbmAB8ZR8nw0=".into(),
    ));
    let main = job.main(&common::mint_action(), &with(&inputs));
    main.ok();
    assert!(
        main.stderr.contains("TRACE") || main.stderr.contains("DEBUG"),
        "logging did not turn up:\n{}",
        main.stderr
    );
    let token = main.outputs["token"].clone();
    let jwt = fake.requests()[0]
        .header("authorization")
        .unwrap()
        .trim_start_matches("Bearer ")
        .to_owned();
    main.assert_never_shows(&[&token, common::app_key(), &jwt]);
    // Not even the raw, unmasked stderr carries them.
    for secret in [&token, &jwt] {
        assert!(!main.stderr.contains(secret.as_str()));
    }
    let post = job.post(&common::mint_action(), &with(&inputs), &main.state);
    post.ok();
    assert!(!post.stderr.contains(&token));
    post.assert_never_shows(&[&token]);
}
