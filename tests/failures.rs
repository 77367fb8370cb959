//! Every way a mint can fail: a clear `::error` naming the input or the cause, exit 1, no
//! secret in sight, and no network call at all for a bad input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)]

mod common;

use std::time::{Duration, Instant};

use common::{app_inputs, with, Job};
use fake_github::{FakeConfig, FakeGitHub, Fault, Route};

fn mint(fake: &FakeGitHub, inputs: &[(&str, String)]) -> common::Step {
    Job::new(fake).main(&common::mint_action(), &with(inputs))
}

fn app_with(extra: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let mut inputs = app_inputs();
    for (name, value) in extra {
        inputs.retain(|(known, _)| known != name);
        inputs.push((name, (*value).to_owned()));
    }
    inputs
}

#[test]
fn bad_inputs_are_refused_before_any_network_call() {
    let fake = FakeGitHub::start(FakeConfig::default());
    let key_line = common::app_key().lines().nth(3).unwrap().to_owned();
    let broken_key = common::app_key().replace(&key_line, &key_line.replace(['A', 'B'], "!"));
    let cases: Vec<(Vec<(&'static str, String)>, &[&str])> = vec![
        (vec![("private-key", common::app_key().into())], &["`app-id` or `client-id` is required"]),
        (app_with(&[("app-id", "")]), &["`app-id` or `client-id` is required"]),
        (app_with(&[("app-id", "my-app")]), &["input `app-id` must be the app's numeric ID"]),
        (vec![("app-id", "12345".into())], &["input `private-key` is required with `app-id`"]),
        (app_with(&[("private-key", "not a key")]), &["input `private-key` is not a PEM private key"]),
        (app_with(&[("private-key", &broken_key)]), &["input `private-key` has a PEM body that is not valid base64"]),
        (
            app_with(&[("private-key", &common::app_key().replace("RSA PRIVATE KEY", "PRIVATE KEY"))]),
            &["input `private-key` is not a valid RSA private key"],
        ),
        (
            app_with(&[("permission-contents", "read"), ("permission-pull-request", "write")]),
            &["input `permission-pull-request`: unknown permission `pull-request` (did you mean `pull-requests`?)", "valid permissions: actions, administration"],
        ),
        (
            app_with(&[("permission-contents", "admin")]),
            &["input `permission-contents`: permission `contents` cannot be `admin`; allowed: read, write"],
        ),
        (app_with(&[("permission-workflows", "read")]), &["allowed: write"]),
        (
            app_with(&[("repositories", "api, other-org/tools")]),
            &["input `repositories`: `other-org/tools` is not under the owner `octo-org`"],
        ),
        (app_with(&[("repositories", "api?x=1")]), &["input `repositories`: `api?x=1` is not a valid repository name"]),
        (app_with(&[("owner", "octo org")]), &["input `owner`: `octo org` is not a valid account name"]),
        (
            app_with(&[("skip-token-revoke", "yes")]),
            &["input `skip-token-revoke` must be a boolean, got `yes`", "true, True, TRUE, false, False, FALSE"],
        ),
        (app_with(&[("github-api-url", "api.github.com")]), &["input `github-api-url` is not an http(s) URL"]),
        (app_with(&[("seal-to", "abc")]), &["input `seal-to`"]),
        (app_with(&[("identity", "ci")]), &["inputs `identity` and `app-id` cannot be used together"]),
        (app_with(&[("least-privilege", "strict")]), &["input `least-privilege` must be `warn`, `enforce` or `off`"]),
        (app_with(&[("least-privilege", "enforce")]), &["least-privilege is `enforce`", "inherit every permission"]),
        (
            app_with(&[("least-privilege", "enforce"), ("owner", "octo-org"), ("permission-contents", "read")]),
            &["`owner` alone gives the token every repository"],
        ),
    ];
    for (inputs, expected) in cases {
        let step = mint(&fake, &inputs);
        step.failed();
        let errors = step.errors();
        assert_eq!(errors.len(), 1, "{}", step.log);
        for fragment in expected {
            assert!(
                errors[0].contains(fragment),
                "expected `{fragment}` in:\n{}",
                errors[0]
            );
        }
        assert!(fake.requests().is_empty(), "{:?} made requests", expected);
        assert!(step.outputs.is_empty() && step.state.is_empty());
        step.assert_never_shows(&[common::app_key(), &key_line]);
    }
}

#[test]
fn server_errors_and_rate_limits_are_retried_honouring_retry_after() {
    let fake = FakeGitHub::start(FakeConfig::default());
    fake.inject(Route::InstallationLookup, Fault::status(500));
    fake.inject(
        Route::InstallationLookup,
        Fault::Status {
            status: 429,
            retry_after: Some(2),
            body: None,
        },
    );
    fake.inject(Route::CreateToken, Fault::status(503));
    let started = Instant::now();
    let step = mint(&fake, &app_with(&[("permission-contents", "read")]));
    step.ok();
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "Retry-After not honoured"
    );
    let lines: Vec<String> = fake
        .requests()
        .iter()
        .map(|request| format!("{} {}", request.line(), request.status))
        .collect();
    assert_eq!(
        lines,
        [
            "GET /repos/octo-org/api/installation 500",
            "GET /repos/octo-org/api/installation 429",
            "GET /repos/octo-org/api/installation 200",
            "POST /app/installations/1001/access_tokens 503",
            "POST /app/installations/1001/access_tokens 201",
        ]
    );
}

#[test]
fn client_errors_are_not_retried() {
    let fake = FakeGitHub::start(FakeConfig::default());
    fake.inject(
        Route::InstallationLookup,
        Fault::Status {
            status: 403,
            retry_after: None,
            body: Some(r#"{"message":"Resource not accessible by integration"}"#.into()),
        },
    );
    let step = mint(&fake, &app_with(&[("permission-contents", "read")]));
    step.failed();
    assert_eq!(fake.requests().len(), 1);
    assert!(
        step.errors()[0].contains("HTTP 403: Resource not accessible by integration"),
        "{}",
        step.log
    );
}

#[test]
fn retries_give_up_with_a_clear_error() {
    let fake = FakeGitHub::start(FakeConfig::default());
    for _ in 0..4 {
        fake.inject(
            Route::CreateToken,
            Fault::Status {
                status: 502,
                retry_after: None,
                body: Some("<html>bad gateway</html>".into()),
            },
        );
    }
    let step = mint(&fake, &app_with(&[("permission-contents", "read")]));
    step.failed();
    assert_eq!(fake.requests().len(), 5);
    assert!(
        step.errors()[0].contains("creating the token failed with HTTP 502"),
        "{}",
        step.log
    );
}

#[test]
fn an_unreachable_api_fails_within_a_bounded_time() {
    let fake = FakeGitHub::start(FakeConfig::default());
    // A port nothing listens on: connections are refused at once.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let started = Instant::now();
    let step = mint(
        &fake,
        &app_with(&[("permission-contents", "read"), ("github-api-url", &url)]),
    );
    step.failed();
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    let error = &step.errors()[0];
    assert!(
        error.contains(&format!(
            "{url}/repos/octo-org/api/installation did not answer after 4 attempt(s)"
        )),
        "{error}"
    );
    assert!(error.contains("github-api-url"), "{error}");
}

#[test]
fn a_hanging_api_fails_at_the_deadline_not_never() {
    let fake = FakeGitHub::start(FakeConfig::default());
    for _ in 0..4 {
        fake.inject(Route::InstallationLookup, Fault::Hang);
    }
    let mut job = Job::new(&fake);
    job.set_env("TOKEN_LEASE_TIMEOUT_SECONDS", "3");
    let started = Instant::now();
    let step = job.main(
        &common::mint_action(),
        &with(&app_with(&[("permission-contents", "read")])),
    );
    step.failed();
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert!(
        step.errors()[0].contains("timed out waiting for an answer"),
        "{}",
        step.log
    );
}

#[test]
fn a_wrong_key_or_app_says_which_and_why() {
    let fake = FakeGitHub::start(FakeConfig::default());
    let step = mint(
        &fake,
        &app_with(&[
            ("private-key", fake_github::keys::WRONG_KEY_PKCS8_PEM),
            ("permission-contents", "read"),
        ]),
    );
    step.failed();
    let error = &step.errors()[0];
    assert!(
        error.contains("GitHub refused the app JWT for app ID 12345 (HTTP 401"),
        "{error}"
    );
    assert!(
        error.contains("`private-key` does not belong to the app with app ID 12345"),
        "{error}"
    );
    assert_eq!(fake.requests().len(), 1, "401 must not be retried");

    let step = mint(
        &fake,
        &app_with(&[("app-id", "777"), ("permission-contents", "read")]),
    );
    step.failed();
    assert!(
        step.errors()[0].contains("no GitHub App has app ID 777"),
        "{}",
        step.log
    );
}

#[test]
fn clock_skew_is_named_as_such() {
    let fake = FakeGitHub::start(FakeConfig {
        clock_skew_secs: -3600,
        ..FakeConfig::default()
    });
    let step = mint(&fake, &app_with(&[("permission-contents", "read")]));
    step.failed();
    let error = &step.errors()[0];
    assert!(error.contains("HTTP 401"), "{error}");
    assert!(error.contains("clock skew"), "{error}");
}

#[test]
fn an_app_not_installed_there_is_a_404_that_says_so() {
    let fake = FakeGitHub::start(FakeConfig::default());
    let step = mint(
        &fake,
        &app_with(&[("owner", "someone-else"), ("permission-contents", "read")]),
    );
    step.failed();
    let error = &step.errors()[0];
    assert!(
        error.contains("the GitHub App is not installed on the account `someone-else`"),
        "{error}"
    );
    assert!(error.contains("install the app"), "{error}");
}

#[test]
fn a_422_carries_githubs_message() {
    let fake = FakeGitHub::start(FakeConfig::default());
    let step = mint(&fake, &app_with(&[("permission-administration", "write")]));
    step.failed();
    let error = &step.errors()[0];
    assert!(error.contains("GitHub refused to create the token (HTTP 422: The permissions requested are not granted to this installation."), "{error}");

    let step = mint(
        &fake,
        &app_with(&[
            ("repositories", "api, secret-project"),
            ("permission-contents", "read"),
        ]),
    );
    step.failed();
    assert!(
        step.errors()[0].contains("not accessible to the parent installation"),
        "{}",
        step.log
    );
}

#[test]
fn broken_responses_are_errors_not_panics() {
    let fake = FakeGitHub::start(FakeConfig::default());
    for (route, fault, expected) in [
        (
            Route::InstallationLookup,
            Fault::NotJson,
            "looking up the installation: the response is not the JSON GitHub sends",
        ),
        (
            Route::CreateToken,
            Fault::Truncated,
            "creating the token: the response is not the JSON GitHub sends",
        ),
        (
            Route::CreateToken,
            Fault::NotJson,
            "creating the token: the response is not the JSON GitHub sends",
        ),
    ] {
        fake.clear_requests();
        fake.inject(route, fault);
        let step = mint(&fake, &app_with(&[("permission-contents", "read")]));
        step.failed();
        assert!(step.errors()[0].contains(expected), "{}", step.log);
        assert!(!step.stderr.contains("panicked"), "{}", step.stderr);
        assert!(step.outputs.is_empty());
    }
}

#[test]
fn a_token_that_cannot_be_handed_over_is_revoked_at_once() {
    let fake = FakeGitHub::start(FakeConfig::default());
    let mut job = Job::new(&fake);
    job.set_env("GITHUB_STATE", "/nonexistent-dir/state");
    let step = job.main(&common::mint_action(), &with(&common::contents_read()));
    step.failed();
    assert!(
        step.errors()[0].contains("could not pass the token on"),
        "{}",
        step.log
    );
    let lines: Vec<String> = fake
        .requests()
        .iter()
        .map(|request| request.line())
        .collect();
    assert_eq!(
        lines,
        [
            "GET /repos/octo-org/api/installation",
            "POST /app/installations/1001/access_tokens",
            "DELETE /installation/token"
        ]
    );
    let tokens = fake.tokens();
    assert_eq!(tokens.len(), 1);
    assert!(tokens[0].revoked, "the orphaned token must not live on");
    step.assert_never_shows(&[&tokens[0].token]);
}
