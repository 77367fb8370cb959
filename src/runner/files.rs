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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn commands_in(dir: &std::path::Path) -> FileCommands {
        FileCommands {
            output: Some(dir.join("output")),
            state: Some(dir.join("state")),
            summary: Some(dir.join("summary")),
        }
    }

    #[test]
    fn values_cannot_end_their_own_heredoc() {
        let dir = tempfile::tempdir().unwrap();
        let files = commands_in(dir.path());
        // A value that tries to close a heredoc and smuggle in a second output.
        let hostile = "x\nEOF\nadmin=true\nghadelimiter_\ntoken<<EOF";
        files.write(FileCommand::Output, "token", hostile).unwrap();
        files.write(FileCommand::Output, "other", "plain").unwrap();
        let text = std::fs::read_to_string(dir.path().join("output")).unwrap();
        let mut lines = text.lines();
        let first = lines.next().unwrap();
        let (name, delimiter) = first.split_once("<<").unwrap();
        assert_eq!(name, "token");
        assert!(
            delimiter.starts_with("ghadelimiter_") && delimiter.len() == "ghadelimiter_".len() + 32
        );
        let value: Vec<&str> = lines
            .by_ref()
            .take_while(|line| *line != delimiter)
            .collect();
        assert_eq!(value.join("\n"), hostile);
        let second = lines.next().unwrap();
        assert!(second.starts_with("other<<ghadelimiter_") && !second.ends_with(delimiter));
    }

    #[test]
    fn a_missing_file_command_is_an_error_not_a_panic() {
        let files = FileCommands {
            output: None,
            state: None,
            summary: None,
        };
        let error = files.write(FileCommand::State, "token", "x").unwrap_err();
        assert_eq!(error.to_string(), "GITHUB_STATE is not set, so there is nowhere to write the step's state for the post step");
        assert!(files.append_summary("# x").is_err());
    }
}
