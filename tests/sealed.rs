//! Issue: sealed tokens that cross jobs, revoked by the job that uses them last.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)]

mod common;

use std::process::Command;

use common::{with, Job};
use fake_github::{FakeConfig, FakeGitHub};
use token_lease::seal::{generate_keypair, SealPublicKey, SealSecretKey};
use token_lease::secret::Secret;

fn keypair() -> (String, String) {
    let (public, secret) = generate_keypair().unwrap();
    (public.to_base64(), secret.to_base64().expose().to_owned())
}

#[test]
fn a_sealed_token_crosses_to_another_job_which_uses_and_revokes_it() {
    let fake = FakeGitHub::start(FakeConfig::default());
    let (public, secret) = keypair();

    // Job 1: mint, sealed to the public key, revocation left to the job that uses it.
    let mut mint_job = Job::new(&fake);
    let mut inputs = common::contents_read();
    inputs.push(("seal-to", public.clone()));
    inputs.push(("skip-token-revoke", "true".into()));
    let main = mint_job.main(&common::mint_action(), &with(&inputs));
    main.ok();
    let token = main.outputs["token"].clone();
    let sealed = main.outputs["sealed-token"].clone();
    // The ciphertext is not masked (so it survives as a job output) and does not contain the token.
    assert!(!main.masks.contains(&sealed));
    assert!(!sealed.contains(&token));
    main.assert_never_shows(&[&token]);
    let post = mint_job.post(&common::mint_action(), &with(&inputs), &main.state);
    post.ok();
    assert!(
        !fake.token(&token).unwrap().revoked,
        "the minting job must leave revocation to the other job"
    );

    // Job 2: only the sealed token (a job output) and the secret key (a secret) arrive.
    fake.clear_requests();
    let mut use_job = Job::new(&fake);
    let open_inputs = [
        ("sealed-token", sealed.as_str()),
        ("seal-key", secret.as_str()),
    ];
    let opened = use_job.main(&common::open_action(), &open_inputs);
    opened.ok();
    assert_eq!(opened.outputs["token"], token);
    opened.assert_masked_first(&token);
    opened.assert_never_shows(&[&token, &secret]);
    assert!(fake.requests().is_empty(), "opening needs no network");
    let opened_record = &opened.audit()[0];
    assert_eq!(opened_record["event"], "opened");
    assert_eq!(opened_record["fingerprint"], main.audit()[0]["fingerprint"]);
    assert!(
        opened.summary.contains("Sealed token opened")
            && opened.summary.contains("this job's post step"),
        "{}",
        opened.summary
    );

    // The token works in job 2...
    let listing = fake_github_list(&fake, &token);
    assert_eq!(listing, 200);
    // ...and job 2's post step revokes it.
    let post = use_job.post(&common::open_action(), &open_inputs, &opened.state);
    post.ok();
    assert!(fake.token(&token).unwrap().revoked);
    assert_eq!(fake_github_list(&fake, &token), 401);
    post.assert_never_shows(&[&token, &secret]);
}

/// `GET /installation/repositories` with the token, as a later step would use it.
fn fake_github_list(fake: &FakeGitHub, token: &str) -> u16 {
    common::get_status(
        &format!("{}/installation/repositories", fake.api_url()),
        &format!("token {token}"),
    )
}

#[test]
fn open_can_leave_revocation_to_yet_another_job() {
    let fake = FakeGitHub::start(FakeConfig::default());
    let (public, secret) = keypair();
    let mut inputs = common::contents_read();
    inputs.push(("seal-to", public));
    inputs.push(("skip-token-revoke", "true".into()));
    let main = Job::new(&fake).main(&common::mint_action(), &with(&inputs));
    let sealed = main.outputs["sealed-token"].clone();
    let mut job = Job::new(&fake);
    let open_inputs = [
        ("sealed-token", sealed.as_str()),
        ("seal-key", secret.as_str()),
        ("skip-token-revoke", "true"),
    ];
    let opened = job.main(&common::open_action(), &open_inputs);
    opened.ok();
    job.post(&common::open_action(), &open_inputs, &opened.state)
        .ok();
    assert!(!fake.token(&main.outputs["token"]).unwrap().revoked);
}

#[test]
fn a_box_that_does_not_open_is_a_clear_error_that_never_echoes_the_key() {
    let fake = FakeGitHub::start(FakeConfig::default());
    let (public, secret) = keypair();
    let (_, other_secret) = keypair();
    let sealed = token_lease::seal::seal(
        &Secret::new("ghs_0123456789abcdefghijklmnopqrstuvwxyz"),
        &SealPublicKey::from_base64(&public).unwrap(),
    )
    .unwrap();
    let mut tampered = base64_decode(&sealed);
    tampered[40] ^= 1;
    let tampered = base64_encode(&tampered);
    let truncated = sealed[..40].to_owned();
    let cases: Vec<(String, String, &str)> = vec![
        (sealed.clone(), other_secret.clone(), "input `sealed-token`"),
        (tampered, secret.clone(), "input `sealed-token`"),
        (truncated, secret.clone(), "input `sealed-token`"),
        (
            "not base64 at all!".into(),
            secret.clone(),
            "input `sealed-token`",
        ),
        (sealed.clone(), "c2hvcnQ=".into(), "input `seal-key`"),
        (sealed.clone(), "%%%".into(), "input `seal-key`"),
        (
            "".into(),
            secret.clone(),
            "input `sealed-token` is required",
        ),
        (sealed.clone(), "".into(), "input `seal-key` is required"),
    ];
    for (sealed_token, key, expected) in cases {
        let step = Job::new(&fake).main(
            &common::open_action(),
            &[("sealed-token", &sealed_token), ("seal-key", &key)],
        );
        step.failed();
        let errors = step.errors();
        assert_eq!(errors.len(), 1, "{}", step.log);
        assert!(
            errors[0].contains(expected),
            "expected `{expected}` in {}",
            errors[0]
        );
        assert!(!step.stderr.contains("panicked"));
        step.assert_never_shows(&[&key, &secret, &other_secret]);
        assert!(step.outputs.is_empty() && step.state.is_empty());
    }
}

#[test]
fn a_malformed_seal_to_is_refused_before_minting() {
    let fake = FakeGitHub::start(FakeConfig::default());
    for bad in [
        "not-base64!",
        "c2hvcnQ=",
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    ] {
        let mut inputs = common::contents_read();
        inputs.push(("seal-to", bad.into()));
        let step = Job::new(&fake).main(&common::mint_action(), &with(&inputs));
        step.failed();
        assert!(step.errors()[0].contains("input `seal-to`"), "{}", step.log);
        assert!(
            fake.requests().is_empty(),
            "nothing may be minted for {bad}"
        );
    }
}

#[test]
fn keygen_prints_a_working_pair_with_where_each_belongs() {
    let output = Command::new(common::MINT)
        .arg("keygen")
        .env_clear()
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].contains("seal-to"), "{text}");
    assert!(
        lines[1].contains("seal-key") && lines[1].contains("secret"),
        "{text}"
    );
    let public = lines[0].rsplit(' ').next().unwrap();
    let secret = lines[1].rsplit(' ').next().unwrap();
    let sealed = token_lease::seal::seal(
        &Secret::new("ghs_x"),
        &SealPublicKey::from_base64(public).unwrap(),
    )
    .unwrap();
    let opened = token_lease::seal::open(
        &sealed,
        &SealSecretKey::from_base64(&Secret::new(secret)).unwrap(),
    )
    .unwrap();
    assert_eq!(opened.expose(), "ghs_x");
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
