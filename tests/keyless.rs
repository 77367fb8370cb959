//! Issue: keyless tokens, the job's OIDC token exchanged at an octo-sts compatible STS.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)]

mod common;

use std::collections::BTreeMap;

use common::Job;
use fake_github::{FakeConfig, FakeGitHub, Fault, Route, TrustPolicy};

fn keyless<'a>(fake_sts: &'a str, identity: &'a str, scope: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("identity", identity),
        ("scope", scope),
        ("sts-url", fake_sts),
    ]
}

#[test]
fn exchanges_the_oidc_token_masks_everything_and_revokes_in_post() {
    let fake = FakeGitHub::start(FakeConfig::default());
    let sts = fake.sts_url();
    let mut job = Job::new(&fake).with_oidc(&fake);
    let inputs = keyless(&sts, "ci", "octo-org/api");
    let main = job.main(&common::mint_action(), &inputs);
    main.ok();

    let requests = fake.requests();
    let lines: Vec<String> = requests.iter().map(|request| request.line()).collect();
    assert_eq!(lines, ["GET /_actions/idtoken", "GET /sts/exchange"]);
    assert!(
        requests[0]
            .query
            .as_deref()
            .unwrap()
            .ends_with("&audience=127.0.0.1"),
        "{:?}",
        requests[0].query
    );
    assert_eq!(
        requests[0].header("authorization"),
        Some(format!("Bearer {}", fake.oidc_request_token()).as_str())
    );
    assert_eq!(
        requests[1].query.as_deref(),
        Some("scope=octo-org%2Fapi&identity=ci")
    );
    let oidc = requests[1]
        .header("authorization")
        .unwrap()
        .trim_start_matches("Bearer ")
        .to_owned();

    let token = main.outputs["token"].clone();
    let issued = fake.token(&token).unwrap();
    assert!(issued.via_sts);
    assert_eq!(issued.repositories, Some(vec!["api".to_owned()]));
    // Both the OIDC token and the installation token are masked before anything shows them.
    assert!(main.masks.contains(&oidc) && main.masks.contains(&token));
    main.assert_masked_first(&token);
    main.assert_never_shows(&[&token, &oidc, &fake.oidc_request_token()]);
    // Traceable: which STS, scope and identity, and a fingerprint, never the token.
    let print =
        token_lease::credential::fingerprint(&token_lease::secret::Secret::new(token.as_str()));
    for text in [&main.log, &main.summary] {
        assert!(
            text.contains(&sts)
                && text.contains("octo-org/api")
                && text.contains("`ci`")
                && text.contains(&print),
            "{text}"
        );
    }

    fake.clear_requests();
    let post = job.post(&common::mint_action(), &inputs, &main.state);
    post.ok();
    let lines: Vec<String> = fake
        .requests()
        .iter()
        .map(|request| request.line())
        .collect();
    assert_eq!(lines, ["DELETE /installation/token"]);
    assert!(fake.token(&token).unwrap().revoked);
}

#[test]
fn without_id_token_permission_the_error_says_to_grant_it() {
    let fake = FakeGitHub::start(FakeConfig::default());
    let sts = fake.sts_url();
    let step = Job::new(&fake).main(&common::mint_action(), &keyless(&sts, "ci", "octo-org/api"));
    step.failed();
    assert!(
        step.errors()[0].contains("permissions: id-token: write"),
        "{}",
        step.log
    );
    assert!(fake.requests().is_empty());
}

#[test]
fn sts_refusals_carry_the_sts_message_and_code_and_name_scope_and_identity() {
    let strict = TrustPolicy {
        scope: "octo-org/api".into(),
        identity: "release".into(),
        issuer: "https://token.actions.githubusercontent.com".into(),
        subject: None,
        subject_pattern: Some("repo:octo-org/api:ref:refs/tags/v.*".into()),
        audience: None,
        claim_pattern: BTreeMap::new(),
        permissions: [("contents".to_owned(), "write".to_owned())]
            .into_iter()
            .collect(),
        repositories: Vec::new(),
    };
    let mut config = FakeConfig::default();
    config.trust_policies.push(strict);
    let fake = FakeGitHub::start(config);
    let sts = fake.sts_url();
    let cases = [
        (
            keyless(&sts, "missing", "octo-org/api"),
            vec![
                "scope `octo-org/api` with identity `missing`",
                "HTTP 404, code 5",
                "missing",
            ],
        ),
        (
            keyless(&sts, "release", "octo-org/api"),
            vec!["identity `release`", "HTTP 403, code 7"],
        ),
    ];
    for (inputs, expected) in cases {
        let step = Job::new(&fake)
            .with_oidc(&fake)
            .main(&common::mint_action(), &inputs);
        step.failed();
        let error = &step.errors()[0];
        for fragment in expected {
            assert!(error.contains(fragment), "`{fragment}` not in {error}");
        }
        assert!(error.contains(".sts.yaml"), "{error}");
        assert!(step.outputs.is_empty());
    }
    // A different audience than the STS expects is refused by the STS, and says so.
    let mut inputs = keyless(&sts, "ci", "octo-org/api");
    inputs.push(("audience", "someone-else"));
    let step = Job::new(&fake)
        .with_oidc(&fake)
        .main(&common::mint_action(), &inputs);
    step.failed();
    assert!(
        step.errors()[0].contains("HTTP 401, code 16"),
        "{}",
        step.log
    );
    assert!(fake.requests().iter().any(|request| request
        .query
        .as_deref()
        .is_some_and(|query| query.ends_with("audience=someone-else"))));
}

#[test]
fn sts_outages_are_retried_then_fail_clearly() {
    let fake = FakeGitHub::start(FakeConfig::default());
    let sts = fake.sts_url();
    fake.inject(Route::StsExchange, Fault::status(503));
    let step = Job::new(&fake)
        .with_oidc(&fake)
        .main(&common::mint_action(), &keyless(&sts, "ci", "octo-org/api"));
    step.ok();

    fake.clear_requests();
    for _ in 0..4 {
        fake.inject(Route::StsExchange, Fault::status(502));
    }
    let step = Job::new(&fake)
        .with_oidc(&fake)
        .main(&common::mint_action(), &keyless(&sts, "ci", "octo-org/api"));
    step.failed();
    let exchanges = fake
        .requests()
        .iter()
        .filter(|request| request.path == "/sts/exchange")
        .count();
    assert_eq!(exchanges, 4);
    assert!(step.errors()[0].contains("HTTP 502"), "{}", step.log);
}

#[test]
fn keyless_and_app_inputs_do_not_mix() {
    let fake = FakeGitHub::start(FakeConfig::default());
    let sts = fake.sts_url();
    for (name, value) in [
        ("private-key", "x"),
        ("client-id", "Iv1"),
        ("permission-contents", "read"),
        ("owner", "octo-org"),
    ] {
        let mut inputs = keyless(&sts, "ci", "octo-org/api");
        inputs.push((name, value));
        let step = Job::new(&fake)
            .with_oidc(&fake)
            .main(&common::mint_action(), &inputs);
        step.failed();
        assert!(
            step.errors()[0].contains("cannot be used together"),
            "{}",
            step.log
        );
        assert!(fake.requests().is_empty());
    }
}
