//! Runs the real binaries the way the Actions runner runs a Docker action's steps: every
//! declared input as `INPUT_<NAME>` (hyphens kept, defaults from action.yml), fresh
//! file-command files per step, state carried to post as `STATE_<name>`, and the log masked
//! with the runner's rules.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::FakeGitHub;
use serde::Deserialize;

/// One action of the repository: its manifest and the binaries of its two steps.
#[derive(Clone, Debug)]
pub struct Action {
    pub manifest: PathBuf,
    pub main: PathBuf,
    pub post: PathBuf,
}

#[derive(Debug, Deserialize)]
pub struct Manifest {
    pub inputs: BTreeMap<String, InputSpec>,
    #[serde(default)]
    pub outputs: BTreeMap<String, serde_json::Value>,
    pub runs: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
pub struct InputSpec {
    pub description: String,
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub required: Option<bool>,
}

pub fn manifest(path: &Path) -> Manifest {
    let text = std::fs::read_to_string(path).unwrap();
    serde_saphyr::from_str(&text).unwrap()
}

/// One finished step, as the runner would have seen it.
#[derive(Debug)]
pub struct Step {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub outputs: BTreeMap<String, String>,
    pub state: BTreeMap<String, String>,
    pub summary: String,
    /// Values registered with `::add-mask::` during the step.
    pub masks: Vec<String>,
    /// stdout + stderr with every mask of the job so far applied, as the job log shows it.
    pub log: String,
}

impl Step {
    pub fn ok(&self) -> &Self {
        assert_eq!(self.code, 0, "step failed:\n{}", self.log);
        self
    }

    pub fn failed(&self) -> &Self {
        assert_eq!(self.code, 1, "step should have failed:\n{}", self.log);
        self
    }

    /// The `::error` annotations of the step.
    pub fn errors(&self) -> Vec<String> {
        annotations(&self.log, "error")
    }

    pub fn warnings(&self) -> Vec<String> {
        annotations(&self.log, "warning")
    }

    /// The token-lease audit records in the log, parsed.
    pub fn audit(&self) -> Vec<serde_json::Value> {
        self.log
            .lines()
            .filter_map(|line| line.strip_prefix("token-lease-audit: "))
            .map(|json| serde_json::from_str(json).unwrap())
            .collect()
    }

    /// Asserts no secret appears anywhere a user could see it: the masked log, the raw
    /// stdout/stderr (except the `::add-mask::` line itself), the summary, the state
    /// values other than `token`, and outputs other than `token`.
    pub fn assert_never_shows(&self, secrets: &[&str]) {
        for secret in secrets.iter().filter(|secret| secret.len() >= 8) {
            let pieces: Vec<&str> = std::iter::once(*secret)
                .chain(
                    secret
                        .lines()
                        .filter(|line| line.len() >= 16 && !line.starts_with("-----")),
                )
                .collect();
            for piece in pieces {
                assert!(
                    !self.log.contains(piece),
                    "secret in the masked log:\n{}",
                    self.log
                );
                for line in self.stdout.lines().chain(self.stderr.lines()) {
                    if line.starts_with("::add-mask::") {
                        continue;
                    }
                    assert!(!line.contains(piece), "secret printed in clear: {line}");
                }
                assert!(
                    !self.summary.contains(piece),
                    "secret in the summary:\n{}",
                    self.summary
                );
                for (name, value) in self.state.iter().chain(self.outputs.iter()) {
                    if name != "token" {
                        assert!(!value.contains(piece), "secret in `{name}`");
                    }
                }
            }
        }
    }

    /// Asserts the token was masked before anything else could print it: the mask command
    /// is the first stdout line that contains it.
    pub fn assert_masked_first(&self, token: &str) {
        let first = self.stdout.lines().position(|line| line.contains(token));
        let mask = self
            .stdout
            .lines()
            .position(|line| line == format!("::add-mask::{token}"));
        assert!(mask.is_some(), "token never masked:\n{}", self.stdout);
        assert_eq!(
            first, mask,
            "token printed before its mask:\n{}",
            self.stdout
        );
    }
}

fn annotations(log: &str, kind: &str) -> Vec<String> {
    log.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(&format!("::{kind}"))?;
            let (_, message) = rest.split_once("::")?;
            Some(unescape(message))
        })
        .collect()
}

pub fn unescape(data: &str) -> String {
    data.replace("%0A", "\n")
        .replace("%0D", "\r")
        .replace("%25", "%")
}

/// One emulated job: a workspace, the runner's environment, and the masks registered so far
/// (the runner's masker lives for the whole job).
pub struct Job {
    pub dir: tempfile::TempDir,
    pub env: BTreeMap<String, String>,
    pub masks: Vec<String>,
    steps: usize,
}

impl Job {
    pub fn new(fake: &FakeGitHub) -> Job {
        let dir = tempfile::tempdir().unwrap();
        let env: BTreeMap<String, String> = [
            ("GITHUB_ACTIONS", "true".to_owned()),
            ("GITHUB_API_URL", fake.api_url()),
            ("GITHUB_SERVER_URL", "https://github.com".to_owned()),
            ("GITHUB_REPOSITORY", "octo-org/api".to_owned()),
            ("GITHUB_REPOSITORY_OWNER", "octo-org".to_owned()),
            ("GITHUB_RUN_ID", "4242".to_owned()),
            ("GITHUB_RUN_ATTEMPT", "1".to_owned()),
            ("GITHUB_WORKFLOW", "release".to_owned()),
            ("GITHUB_JOB", "publish".to_owned()),
            ("GITHUB_ACTOR", "octocat".to_owned()),
            ("GITHUB_WORKSPACE", dir.path().display().to_string()),
            ("HOME", dir.path().display().to_string()),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect();
        Job {
            dir,
            env,
            masks: Vec::new(),
            steps: 0,
        }
    }

    /// Lets the job request an OIDC token (`permissions: id-token: write`).
    pub fn with_oidc(mut self, fake: &FakeGitHub) -> Job {
        self.env.insert(
            "ACTIONS_ID_TOKEN_REQUEST_URL".into(),
            fake.oidc_request_url(),
        );
        self.env.insert(
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN".into(),
            fake.oidc_request_token(),
        );
        self
    }

    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.insert(key.to_owned(), value.to_owned());
    }

    /// Runs the action's main step with these `with:` inputs.
    pub fn main(&mut self, action: &Action, with: &[(&str, &str)]) -> Step {
        self.run(&action.main, action, with, &BTreeMap::new())
    }

    /// Runs the post step with the same inputs and the state main saved.
    pub fn post(
        &mut self,
        action: &Action,
        with: &[(&str, &str)],
        state: &BTreeMap<String, String>,
    ) -> Step {
        self.run(&action.post, action, with, state)
    }

    fn run(
        &mut self,
        binary: &Path,
        action: &Action,
        with: &[(&str, &str)],
        state: &BTreeMap<String, String>,
    ) -> Step {
        self.steps += 1;
        let files = self
            .dir
            .path()
            .join(format!("file_commands_{}", self.steps));
        std::fs::create_dir_all(&files).unwrap();
        let output_file = files.join("set_output");
        let state_file = files.join("save_state");
        let summary_file = files.join("step_summary");
        for file in [&output_file, &state_file, &summary_file] {
            std::fs::write(file, "").unwrap();
        }
        let mut command = Command::new(binary);
        command.env_clear().current_dir(self.dir.path());
        command.env("PATH", std::env::var("PATH").unwrap_or_default());
        command.env("GITHUB_OUTPUT", &output_file);
        command.env("GITHUB_STATE", &state_file);
        command.env("GITHUB_STEP_SUMMARY", &summary_file);
        // After the file commands, so a test can point one somewhere unwritable.
        for (key, value) in &self.env {
            command.env(key, value);
        }
        for (name, value) in inputs_for(action, with, &self.env) {
            command.env(name, value);
        }
        for (name, value) in state {
            command.env(format!("STATE_{name}"), value);
        }
        let output = command.output().unwrap();
        let stdout = String::from_utf8(output.stdout).unwrap();
        let stderr = String::from_utf8(output.stderr).unwrap();
        let masks: Vec<String> = stdout
            .lines()
            .chain(stderr.lines())
            .filter_map(|line| line.strip_prefix("::add-mask::"))
            .map(unescape)
            .collect();
        self.masks.extend(masks.iter().cloned());
        let log = mask(&format!("{stdout}{stderr}"), &self.masks);
        Step {
            code: output.status.code().unwrap_or(-1),
            stdout,
            stderr,
            outputs: parse_file_commands(&output_file),
            state: parse_file_commands(&state_file),
            summary: std::fs::read_to_string(&summary_file).unwrap(),
            masks,
            log,
        }
    }
}

/// Every declared input is set: to the workflow's value, else its default (with
/// `${{ github.api_url }}` evaluated), else empty. Inputs the manifest does not declare are
/// passed too, as the runner does (with a warning). Names are upper-cased with hyphens kept.
pub fn inputs_for(
    action: &Action,
    with: &[(&str, &str)],
    env: &BTreeMap<String, String>,
) -> Vec<(String, String)> {
    let manifest = manifest(&action.manifest);
    let mut values: BTreeMap<String, String> = manifest
        .inputs
        .iter()
        .map(|(name, spec)| {
            let default = spec.default.clone().unwrap_or_default();
            let default = default.replace(
                "${{ github.api_url }}",
                env.get("GITHUB_API_URL").map(String::as_str).unwrap_or(""),
            );
            (name.clone(), default)
        })
        .collect();
    for (name, value) in with {
        values.insert((*name).to_owned(), (*value).to_owned());
    }
    values
        .into_iter()
        .map(|(name, value)| {
            (
                format!("INPUT_{}", name.replace(' ', "_").to_uppercase()),
                value,
            )
        })
        .collect()
}

/// The runner's masker: every registered value, and each line of a multi-line value.
pub fn mask(text: &str, masks: &[String]) -> String {
    let mut pieces: Vec<&str> = Vec::new();
    for value in masks {
        pieces.push(value);
        pieces.extend(value.lines());
    }
    pieces.retain(|piece| !piece.trim().is_empty());
    // Longest first, so a value is not half-masked by one of its own lines.
    pieces.sort_by_key(|piece| std::cmp::Reverse(piece.len()));
    let mut text = text.to_owned();
    for piece in pieces {
        text = text.replace(piece, "***");
    }
    text
}

/// The runner's file-command parser (FileCommandManager.cs): `key=value` when `=` comes
/// before `<<`, else a heredoc ended by a line equal to the delimiter.
pub fn parse_file_commands(path: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.split('\n').collect();
    let mut values = BTreeMap::new();
    let mut index = 0;
    while index < lines.len() {
        let line = lines[index].trim_end_matches('\r');
        index += 1;
        if line.is_empty() {
            continue;
        }
        let equals = line.find('=');
        let heredoc = line.find("<<");
        match (equals, heredoc) {
            (Some(eq), heredoc) if heredoc.is_none_or(|h| eq < h) => {
                values.insert(line[..eq].to_owned(), line[eq + 1..].to_owned());
            }
            (_, Some(h)) => {
                let key = &line[..h];
                let delimiter = &line[h + 2..];
                assert!(
                    !key.is_empty() && !delimiter.is_empty(),
                    "Invalid format '{line}'"
                );
                let mut value: Vec<&str> = Vec::new();
                loop {
                    assert!(
                        index < lines.len(),
                        "Matching delimiter not found '{delimiter}'"
                    );
                    let next = lines[index].trim_end_matches('\r');
                    index += 1;
                    if next == delimiter {
                        break;
                    }
                    value.push(next);
                }
                values.insert(key.to_owned(), value.join("\n"));
            }
            _ => panic!("Invalid format '{line}'"),
        }
    }
    values
}
