//! What each binary runs: build the runtime, run one stage, and report any error in one
//! place as `::error::` plus exit code 1 (the post stage never fails the job).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;

use crate::error::Error;
use crate::runner::{self, Inputs, JobContext, Runner};

/// Main and open: fail the step on error. Post: revocation is best effort.
#[derive(Clone, Copy, Debug)]
pub enum Stage {
    Mint,
    Post,
    Open,
}

/// The whole step must finish within this; `TOKEN_LEASE_TIMEOUT_SECONDS` overrides it.
fn budget(stage: Stage) -> Duration {
    let default = match stage {
        Stage::Mint | Stage::Open => 60,
        Stage::Post => 30,
    };
    let seconds = std::env::var("TOKEN_LEASE_TIMEOUT_SECONDS")
        .ok()
        .and_then(|value| value.trim().parse::<u64>().ok())
        .filter(|seconds| *seconds > 0)
        .unwrap_or(default);
    Duration::from_secs(seconds)
}

pub fn run(stage: Stage) -> ExitCode {
    runner::init_logging();
    let mut runner = Runner::from_env();
    let inputs = Inputs::from_env();
    let job = JobContext::from_env();
    match run_stage(stage, &mut runner, &inputs, &job) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            report_error(&runner, &error);
            ExitCode::FAILURE
        }
    }
}

fn run_stage(
    stage: Stage,
    runner: &mut Runner,
    inputs: &Inputs,
    job: &JobContext,
) -> anyhow::Result<()> {
    match stage {
        // Opening a box needs no network, so no runtime.
        Stage::Open => crate::open::run(runner, inputs, job)?,
        Stage::Mint => runtime()?.block_on(crate::mint::run(runner, inputs, job, budget(stage)))?,
        Stage::Post => runtime()?.block_on(crate::post::run(runner, inputs, job, budget(stage))),
    }
    Ok(())
}

/// One thread is plenty for a handful of sequential requests, and starts fastest.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")
}

fn report_error(runner: &Runner, error: &anyhow::Error) {
    match error.downcast_ref::<Error>() {
        Some(typed) => {
            let hint = typed
                .hint()
                .map(|hint| format!("\nhint: {hint}"))
                .unwrap_or_default();
            runner.error(typed.title(), &format!("{typed}{hint}"));
        }
        None => runner.error("token-lease", &format!("{error:#}")),
    }
}

/// `token-lease keygen`: a key pair for sealed tokens, and where each half belongs.
pub fn keygen() -> ExitCode {
    let (public, secret) = match crate::seal::generate_keypair() {
        Ok(pair) => pair,
        Err(error) => {
            runner::print_plain(&format!("token-lease keygen: the key pair {error}"));
            return ExitCode::FAILURE;
        }
    };
    runner::print_plain(&format!(
        "public key (the mint step's `seal-to`, not secret): {}",
        public.to_base64()
    ));
    runner::print_plain(&format!(
        "secret key (a secret of the job that runs `open`, as `seal-key`; never commit it): {}",
        secret.to_base64().expose()
    ));
    ExitCode::SUCCESS
}

pub fn version() -> ExitCode {
    runner::print_plain(concat!("token-lease ", env!("CARGO_PKG_VERSION")));
    ExitCode::SUCCESS
}
