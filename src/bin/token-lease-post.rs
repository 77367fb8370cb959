//! The post step of both actions (`runs.post-entrypoint`): revoke the leased token.

fn main() -> std::process::ExitCode {
    token_lease::entry::run(token_lease::entry::Stage::Post)
}
