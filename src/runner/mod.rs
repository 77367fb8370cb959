//! Everything that talks to the Actions runner: inputs and job context from the environment,
//! workflow commands on stdout (mask, annotations, groups), file commands (outputs, state,
//! job summary) and the log subscriber. Nothing else in the crate prints or writes runner files.

mod commands;
mod files;

use std::collections::BTreeMap;
use std::io::Write;

use crate::secret::Secret;

pub use files::{FileCommand, RunnerError};

/// The action's inputs as the runner hands them over: `INPUT_<NAME>` with the name upper-cased,
/// spaces turned to `_` and hyphens kept (`INPUT_PERMISSION-PULL-REQUESTS`).
///
/// Every value is held as a `Secret`: `private-key` and `seal-key` arrive here like any other
/// input, so none of them is ever an ordinary string that a `Debug` could print.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    values: BTreeMap<String, Secret>,
}

impl Inputs {
    pub fn from_env() -> Self {
        Self::from_pairs(
            std::env::vars_os().filter_map(|(key, value)| {
                Some((key.into_string().ok()?, value.into_string().ok()?))
            }),
        )
    }

    /// Builds inputs from `INPUT_*` style pairs; other variables are ignored.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        let values = pairs
            .into_iter()
            .filter_map(|(key, value)| {
                let name = key.strip_prefix("INPUT_")?;
                Some((name.to_ascii_lowercase(), Secret::from(value)))
            })
            .collect();
        Inputs { values }
    }

    /// The input trimmed, or `None` when it is unset or blank (the runner sets every declared
    /// input, to an empty string when the workflow gave none and there is no default).
    pub fn get(&self, name: &str) -> Option<&str> {
        let value = self.values.get(&name.replace(' ', "_"))?.expose().trim();
        (!value.is_empty()).then_some(value)
    }

    /// A credential input, kept out of ordinary strings from the start.
    pub fn secret(&self, name: &str) -> Option<Secret> {
        self.get(name).map(Secret::new)
    }

    /// Inputs whose name starts with `prefix`, with the prefix removed, blanks left out.
    pub fn with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.values.iter().filter_map(move |(name, value)| {
            let rest = name.strip_prefix(prefix)?;
            let value = value.expose().trim();
            (!value.is_empty()).then_some((rest, value))
        })
    }
}

/// What the runner tells every step about the job it is in.
#[derive(Clone, Debug, Default)]
pub struct JobContext {
    pub repository: Option<String>,
    pub repository_owner: Option<String>,
    pub api_url: Option<String>,
    pub server_url: Option<String>,
    pub run_id: Option<String>,
    pub run_attempt: Option<String>,
    pub workflow: Option<String>,
    pub job: Option<String>,
    pub actor: Option<String>,
    pub oidc_request_url: Option<String>,
    pub oidc_request_token: Option<Secret>,
}

impl JobContext {
    pub fn from_env() -> Self {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|value| !value.trim().is_empty())
        };
        JobContext {
            repository: var("GITHUB_REPOSITORY"),
            repository_owner: var("GITHUB_REPOSITORY_OWNER"),
            api_url: var("GITHUB_API_URL"),
            server_url: var("GITHUB_SERVER_URL"),
            run_id: var("GITHUB_RUN_ID"),
            run_attempt: var("GITHUB_RUN_ATTEMPT"),
            workflow: var("GITHUB_WORKFLOW"),
            job: var("GITHUB_JOB"),
            actor: var("GITHUB_ACTOR"),
            oidc_request_url: var("ACTIONS_ID_TOKEN_REQUEST_URL"),
            oidc_request_token: var("ACTIONS_ID_TOKEN_REQUEST_TOKEN").map(Secret::from),
        }
    }

    /// A link to this workflow run, for the job summary.
    pub fn run_url(&self) -> Option<String> {
        Some(format!(
            "{}/{}/actions/runs/{}",
            self.server_url.as_deref()?.trim_end_matches('/'),
            self.repository.as_deref()?,
            self.run_id.as_deref()?
        ))
    }
}

/// State the main step saved for the post step, which arrives as `STATE_<name>`.
pub fn saved_state(name: &str) -> Option<String> {
    std::env::var(format!("STATE_{name}"))
        .ok()
        .filter(|value| !value.is_empty())
}

/// Whether the user turned on step debug logging (`RUNNER_DEBUG=1`).
pub fn debug_enabled() -> bool {
    std::env::var("RUNNER_DEBUG").is_ok_and(|value| value == "1")
}

/// Routes `tracing` events to stderr. Our own events are on at debug level when step debug
/// logging is on; `RUST_LOG` overrides. Dependencies only ever see `Secret`-wrapped values and
/// sensitive header values, so even `RUST_LOG=trace` has nothing to leak (a test holds this).
pub fn init_logging() {
    let default = if debug_enabled() {
        "token_lease=debug,warn"
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // A second initialisation (tests calling twice) is harmless; ignore it.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .without_time()
        .try_init();
}

/// The step's voice: workflow commands and plain log lines on stdout, and the file commands.
///
/// Every secret it masks is remembered and scrubbed from every later line it prints, so even a
/// message that somehow carried one (an upstream error echoing a token, say) never leaves here
/// in clear, whether or not a runner is masking.
pub struct Runner {
    files: files::FileCommands,
    masked: Vec<Secret>,
}

impl Runner {
    pub fn from_env() -> Self {
        Runner {
            files: files::FileCommands::from_env(),
            masked: Vec::new(),
        }
    }

    /// Registers a secret with the runner's masker. Call it before anything that could
    /// print the value, including writing it as an output or state (the runner logs those).
    pub fn mask(&mut self, secret: &Secret) {
        if secret.is_empty() {
            return;
        }
        self.emit(&commands::command("add-mask", &[], secret.expose()));
        self.masked.push(secret.clone());
    }

    /// A plain log line. Line breaks are flattened: the runner reads a workflow command at the
    /// start of any stdout line, so text that reached a message from GitHub or an input must
    /// never be able to start one.
    pub fn info(&self, line: &str) {
        self.emit(&self.scrub(&line.replace(['\r', '\n'], " ")));
    }

    pub fn debug(&self, message: &str) {
        self.emit(&commands::command("debug", &[], &self.scrub(message)));
    }

    pub fn notice(&self, message: &str) {
        self.emit(&commands::command("notice", &[], &self.scrub(message)));
    }

    pub fn warning(&self, title: &str, message: &str) {
        let title = self.scrub(title);
        self.emit(&commands::command(
            "warning",
            &[("title", &title)],
            &self.scrub(message),
        ));
    }

    pub fn error(&self, title: &str, message: &str) {
        let title = self.scrub(title);
        self.emit(&commands::command(
            "error",
            &[("title", &title)],
            &self.scrub(message),
        ));
    }

    pub fn group(&self, name: &str) {
        self.emit(&commands::command("group", &[], &self.scrub(name)));
    }

    pub fn end_group(&self) {
        self.emit(&commands::command("endgroup", &[], ""));
    }

    /// One audit record: a single JSON line under a fixed prefix, so a log search finds every
    /// token a workflow ever held.
    pub fn audit(&self, record: &serde_json::Value) {
        // Compact JSON escapes line breaks, so the record stays one line.
        self.emit(&self.scrub(&format!("{AUDIT_PREFIX} {record}")));
    }

    pub fn set_output(&mut self, name: &str, value: &str) -> Result<(), RunnerError> {
        self.files.write(FileCommand::Output, name, value)
    }

    /// Writes a secret output. Refuses unless the secret was masked first.
    pub fn set_secret_output(&mut self, name: &str, value: &Secret) -> Result<(), RunnerError> {
        self.require_masked(value)?;
        self.files.write(FileCommand::Output, name, value.expose())
    }

    pub fn save_state(&mut self, name: &str, value: &str) -> Result<(), RunnerError> {
        self.files.write(FileCommand::State, name, value)
    }

    pub fn save_secret_state(&mut self, name: &str, value: &Secret) -> Result<(), RunnerError> {
        self.require_masked(value)?;
        self.files.write(FileCommand::State, name, value.expose())
    }

    pub fn append_summary(&mut self, markdown: &str) -> Result<(), RunnerError> {
        let markdown = self.scrub(markdown);
        self.files.append_summary(&markdown)
    }

    fn require_masked(&self, value: &Secret) -> Result<(), RunnerError> {
        if self.masked.iter().any(|masked| masked == value) {
            Ok(())
        } else {
            Err(RunnerError::NotMasked)
        }
    }

    fn scrub(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for secret in &self.masked {
            for part in std::iter::once(secret.expose()).chain(secret.expose().lines()) {
                if part.len() >= 4 {
                    text = text.replace(part, "***");
                }
            }
        }
        text
    }

    fn emit(&self, line: &str) {
        let mut stdout = std::io::stdout().lock();
        // Nowhere left to report a failed write to the job log; carry on with the step.
        let _ = writeln!(stdout, "{line}");
        let _ = stdout.flush();
    }
}

/// Prefix of audit lines in the job log.
pub const AUDIT_PREFIX: &str = "token-lease-audit:";

/// Prints a line for a human at a terminal, outside any workflow (the `keygen` command).
pub fn print_plain(line: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn inputs_are_read_as_the_runner_names_them() {
        let inputs = Inputs::from_pairs(
            [
                ("INPUT_APP-ID", " 123 "),
                ("INPUT_PERMISSION-PULL-REQUESTS", "write"),
                ("INPUT_PERMISSION-ISSUES", ""),
                ("INPUT_SKIP-TOKEN-REVOKE", "   "),
                ("INPUT_SOME_NAME", "spaces became underscores"),
                ("GITHUB_TOKEN", "not an input"),
            ]
            .map(|(key, value)| (key.to_owned(), value.to_owned())),
        );
        assert_eq!(inputs.get("app-id"), Some("123"));
        assert_eq!(inputs.get("skip-token-revoke"), None);
        assert_eq!(inputs.get("some name"), Some("spaces became underscores"));
        assert_eq!(inputs.get("github_token"), None);
        let permissions: Vec<_> = inputs.with_prefix("permission-").collect();
        assert_eq!(permissions, [("pull-requests", "write")]);
        assert!(
            !format!("{inputs:?}").contains("123"),
            "Debug must not show input values"
        );
    }
}
