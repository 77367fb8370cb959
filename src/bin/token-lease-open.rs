//! The main step of the `open` action: open a sealed token from another job.

fn main() -> std::process::ExitCode {
    token_lease::entry::run(token_lease::entry::Stage::Open)
}
