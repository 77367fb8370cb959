//! File commands: `GITHUB_OUTPUT`, `GITHUB_STATE` and `GITHUB_STEP_SUMMARY`.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;

use ring::rand::{SecureRandom, SystemRandom};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileCommand {
    Output,
    State,
    Summary,
}

impl FileCommand {
    pub fn env_var(self) -> &'static str {
        match self {
            FileCommand::Output => "GITHUB_OUTPUT",
            FileCommand::State => "GITHUB_STATE",
            FileCommand::Summary => "GITHUB_STEP_SUMMARY",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("{var} is not set, so there is nowhere to write the step's {what}")]
    NoFile {
        var: &'static str,
        what: &'static str,
    },
    #[error("could not write to {var} ({path}): {source}")]
    Write {
        var: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("the name or value of `{name}` contains its own heredoc delimiter")]
    DelimiterCollision { name: String },
    #[error("could not draw random bytes for a heredoc delimiter")]
    Random,
    #[error("refused to write a secret that was not masked first")]
    NotMasked,
}

pub(super) struct FileCommands {
    output: Option<PathBuf>,
    state: Option<PathBuf>,
    summary: Option<PathBuf>,
}

impl FileCommands {
    pub(super) fn from_env() -> Self {
        let path = |command: FileCommand| {
            std::env::var_os(command.env_var())
                .filter(|value| !value.is_empty())
                .map(PathBuf::from)
        };
        FileCommands {
            output: path(FileCommand::Output),
            state: path(FileCommand::State),
            summary: path(FileCommand::Summary),
        }
    }

    /// Appends `name<<DELIM\nvalue\nDELIM\n`, the only form that carries any value safely.
    /// The delimiter is random and checked against name and value, so a value can never end
    /// its own heredoc early and smuggle in another output (as the toolkit does).
    pub(super) fn write(
        &self,
        command: FileCommand,
        name: &str,
        value: &str,
    ) -> Result<(), RunnerError> {
        let (path, what) = match command {
            FileCommand::Output => (&self.output, "outputs"),
            FileCommand::State => (&self.state, "state for the post step"),
            FileCommand::Summary => (&self.summary, "job summary"),
        };
        let path = path.as_ref().ok_or(RunnerError::NoFile {
            var: command.env_var(),
            what,
        })?;
        let delimiter = random_delimiter()?;
        if name.contains(&delimiter) || value.contains(&delimiter) {
            return Err(RunnerError::DelimiterCollision {
                name: name.to_owned(),
            });
        }
        append(
            command,
            path,
            format!("{name}<<{delimiter}\n{value}\n{delimiter}\n").as_bytes(),
        )
    }

    pub(super) fn append_summary(&self, markdown: &str) -> Result<(), RunnerError> {
        let path = self.summary.as_ref().ok_or(RunnerError::NoFile {
            var: FileCommand::Summary.env_var(),
            what: "job summary",
        })?;
        append(FileCommand::Summary, path, markdown.as_bytes())
    }
}

fn append(command: FileCommand, path: &PathBuf, bytes: &[u8]) -> Result<(), RunnerError> {
    let write_error = |source| RunnerError::Write {
        var: command.env_var(),
        path: path.display().to_string(),
        source,
    };
    let mut file = OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(write_error)?;
    file.write_all(bytes).map_err(write_error)
}

fn random_delimiter() -> Result<String, RunnerError> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| RunnerError::Random)?;
    let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
    Ok(format!("ghadelimiter_{hex}"))
}
