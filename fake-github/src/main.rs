//! Serves the default fake GitHub until stdin closes, for the benchmark and the demo.
#![forbid(unsafe_code)]

use std::io::{Read, Write};

use fake_github::{FakeConfig, FakeGitHub};

fn main() {
    let fake = FakeGitHub::start(FakeConfig::default());
    let mut stdout = std::io::stdout().lock();
    // The caller reads exactly this one line to learn where to point the client.
    if writeln!(stdout, "api_url={}", fake.api_url()).is_err() || stdout.flush().is_err() {
        std::process::exit(1);
    }
    drop(stdout);
    // EOF on stdin is the stop signal, so a parent that dies takes the fake with it.
    let mut sink = [0u8; 256];
    let mut stdin = std::io::stdin().lock();
    while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
    drop(fake);
}
