//! The main step of the mint action (`runs.entrypoint`). The runner passes `args` to every
//! stage alike, so they select nothing there; only a person runs `keygen` or `--version`.

use std::process::ExitCode;

use token_lease::entry::{self, Stage};

fn main() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        Some("keygen") => entry::keygen(),
        Some("--version") => entry::version(),
        _ => entry::run(Stage::Mint),
    }
}
