//! The test side of the runner emulation: this repository's two actions and the fixture app.
// Each test crate uses a different part of this module.
#![allow(dead_code, unused_imports, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

pub use fake_github::actions_runner::{manifest, unescape, Job, Manifest, Step};

pub const MINT: &str = env!("CARGO_BIN_EXE_token-lease");
pub const POST: &str = env!("CARGO_BIN_EXE_token-lease-post");
pub const OPEN: &str = env!("CARGO_BIN_EXE_token-lease-open");

/// action.yml at the repository root: mint, then post.
pub fn mint_action() -> fake_github::actions_runner::Action {
    fake_github::actions_runner::Action {
        manifest: repo_root().join("action.yml"),
        main: MINT.into(),
        post: POST.into(),
    }
}

/// open/action.yml: open, then post.
pub fn open_action() -> fake_github::actions_runner::Action {
    fake_github::actions_runner::Action {
        manifest: repo_root().join("open/action.yml"),
        main: OPEN.into(),
        post: POST.into(),
    }
}

/// The fixture app's private key, as a workflow would pass it from a secret.
pub fn app_key() -> &'static str {
    fake_github::keys::APP_KEY_PKCS1_PEM
}

/// The usual inputs of a mint by app ID.
pub fn app_inputs() -> Vec<(&'static str, String)> {
    vec![
        ("app-id", fake_github::APP_ID.to_string()),
        ("private-key", app_key().to_owned()),
    ]
}

/// App inputs asking for `contents: read` only: the smallest ordinary token.
pub fn contents_read() -> Vec<(&'static str, String)> {
    let mut inputs = app_inputs();
    inputs.push(("permission-contents", "read".to_owned()));
    inputs
}

pub fn with<'a>(pairs: &'a [(&'a str, String)]) -> Vec<(&'a str, &'a str)> {
    pairs
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect()
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A plain HTTP/1.1 GET on loopback with GitHub's headers, returning the status: how a later
/// step of the job would use the token.
pub fn get_status(url: &str, authorization: &str) -> u16 {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {authorization}\r\nAccept: application/vnd.github+json\r\nX-GitHub-Api-Version: 2022-11-28\r\nUser-Agent: token-lease-tests\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response.split_whitespace().nth(1).unwrap().parse().unwrap()
}
