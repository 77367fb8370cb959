//! `cargo run --example demo`: the whole lease against the built-in fake GitHub on 127.0.0.1.
//! Builds the action's binaries, runs the mint step and the post step exactly as the Actions
//! runner would, and shows the masked job log, the outputs, the requests GitHub saw, and the
//! revocation.
#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;

use fake_github::actions_runner::{Action, Job};
use fake_github::{FakeConfig, FakeGitHub};

fn main() {
    let binaries = build_binaries();
    let action = Action {
        manifest: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("action.yml"),
        main: binaries.join("token-lease"),
        post: binaries.join("token-lease-post"),
    };
    let fake = FakeGitHub::start(FakeConfig::default());
    println!("fake GitHub API on {}\n", fake.api_url());

    let mut job = Job::new(&fake);
    let key = fake_github::keys::APP_KEY_PKCS1_PEM.to_owned();
    let app_id = fake_github::APP_ID.to_string();
    let inputs = [
        ("app-id", app_id.as_str()),
        ("private-key", key.as_str()),
        ("permission-contents", "read"),
        ("permission-pull-requests", "write"),
        ("purpose", "demo: comment on pull requests"),
    ];
    println!("== main step, with: app-id, private-key, permission-contents: read, permission-pull-requests: write");
    let main = job.main(&action, &inputs);
    println!(
        "-- job log (as the runner shows it, masks applied):\n{}",
        main.log
    );
    println!("-- outputs:");
    for (name, value) in &main.outputs {
        let shown = if name == "token" {
            format!(
                "*** ({} characters; the runner masks it everywhere)",
                value.len()
            )
        } else {
            value.clone()
        };
        println!("   {name} = {shown}");
    }
    println!("-- job summary:\n{}", main.summary);
    let token = main.outputs.get("token").cloned().unwrap_or_default();
    println!("-- requests GitHub saw:");
    for request in fake.requests() {
        println!("   {} -> {}", request.line(), request.status);
    }

    fake.clear_requests();
    println!("\n== post step");
    let post = job.post(&action, &inputs, &main.state);
    println!("-- job log:\n{}", post.log);
    println!("-- job summary:\n{}", post.summary);
    for request in fake.requests() {
        println!("   {} -> {}", request.line(), request.status);
    }
    let revoked = fake.token(&token).is_some_and(|issued| issued.revoked);
    println!("\ntoken revoked at the fake GitHub: {revoked}");
    if main.code != 0 || post.code != 0 || !revoked {
        std::process::exit(1);
    }
}

/// Examples do not build the package's binaries, so build them here with the same cargo
/// and profile, and return their directory.
fn build_binaries() -> PathBuf {
    let examples_dir = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    let profile_dir = examples_dir.parent().unwrap().to_path_buf();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command.args([
        "build",
        "--quiet",
        "--bins",
        "--manifest-path",
        concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"),
    ]);
    if profile_dir
        .file_name()
        .is_some_and(|name| name == "release")
    {
        command.arg("--release");
    }
    let status = command.status().expect("cargo runs");
    assert!(status.success(), "building the binaries failed");
    profile_dir
}
