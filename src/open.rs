//! The `open` action's main step: open a sealed token from another job, mask it, output it,
//! and leave it to this job's post step to revoke.

use crate::config::OpenConfig;
use crate::credential::fingerprint;
use crate::error::Error;
use crate::lease::SavedLease;
use crate::report;
use crate::runner::{Inputs, JobContext, Runner};
use crate::seal;

pub fn run(runner: &mut Runner, inputs: &Inputs, job: &JobContext) -> Result<(), Error> {
    let config = OpenConfig::from_inputs(inputs, job)?;
    let token =
        seal::open(&config.sealed_token, &config.seal_key).map_err(|source| Error::Seal {
            input: "sealed-token",
            source,
        })?;
    drop(config.seal_key);
    runner.mask(&token);
    runner.set_secret_output("token", &token)?;
    let print = fingerprint(&token);
    let opened_at = report::now_iso();
    SavedLease {
        token: Some(token.clone()),
        expires_at: None,
        api_url: Some(config.api.as_str().to_owned()),
        skip: config.skip_revoke,
        minted_at: None,
        fingerprint: Some(print.clone()),
        source: Some(
            serde_json::Value::Object(report::opened_fields(&print, &opened_at)).to_string(),
        ),
        purpose: None,
    }
    .save(runner)?;
    report::opened(runner, job, &print, &opened_at, config.skip_revoke);
    Ok(())
}
