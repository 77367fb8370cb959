//! Permission names and levels an installation token can be scoped to, and the two ways a
//! user names them: one `permission-<name>` input each, or a YAML mapping in `permissions`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde_saphyr::{Budget, DuplicateKeyPolicy, Options, Spanned};

/// Ordered so that a grant can be compared with a request: admin covers write covers read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Read,
    Write,
    Admin,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Read => "read",
            Level::Write => "write",
            Level::Admin => "admin",
        }
    }

    fn parse(text: &str) -> Option<Level> {
        match text {
            "read" => Some(Level::Read),
            "write" => Some(Level::Write),
            "admin" => Some(Level::Admin),
            _ => None,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every permission of GitHub's `app-permissions` schema with the levels it allows
/// (from `github-api/app-permissions.json`; a test keeps the two equal).
pub const PERMISSIONS: &[(&str, &[Level])] = &[
    ("actions", &[Level::Read, Level::Write]),
    ("administration", &[Level::Read, Level::Write]),
    ("artifact_metadata", &[Level::Read, Level::Write]),
    ("attestations", &[Level::Read, Level::Write]),
    ("checks", &[Level::Read, Level::Write]),
    ("code_quality", &[Level::Read, Level::Write]),
    ("codespaces", &[Level::Read, Level::Write]),
    ("contents", &[Level::Read, Level::Write]),
    ("dependabot_secrets", &[Level::Read, Level::Write]),
    ("deployments", &[Level::Read, Level::Write]),
    ("discussions", &[Level::Read, Level::Write]),
    ("environments", &[Level::Read, Level::Write]),
    ("issues", &[Level::Read, Level::Write]),
    ("merge_queues", &[Level::Read, Level::Write]),
    ("metadata", &[Level::Read, Level::Write]),
    ("packages", &[Level::Read, Level::Write]),
    ("pages", &[Level::Read, Level::Write]),
    ("pull_requests", &[Level::Read, Level::Write]),
    ("repository_custom_properties", &[Level::Read, Level::Write]),
    ("repository_hooks", &[Level::Read, Level::Write]),
    (
        "repository_projects",
        &[Level::Read, Level::Write, Level::Admin],
    ),
    ("secret_scanning_alerts", &[Level::Read, Level::Write]),
    ("secrets", &[Level::Read, Level::Write]),
    ("security_events", &[Level::Read, Level::Write]),
    ("single_file", &[Level::Read, Level::Write]),
    ("statuses", &[Level::Read, Level::Write]),
    ("vulnerability_alerts", &[Level::Read, Level::Write]),
    ("workflows", &[Level::Write]),
    (
        "custom_properties_for_organizations",
        &[Level::Read, Level::Write],
    ),
    ("members", &[Level::Read, Level::Write]),
    ("organization_administration", &[Level::Read, Level::Write]),
    ("organization_custom_roles", &[Level::Read, Level::Write]),
    (
        "organization_custom_org_roles",
        &[Level::Read, Level::Write],
    ),
    (
        "organization_custom_properties",
        &[Level::Read, Level::Write, Level::Admin],
    ),
    (
        "organization_copilot_seat_management",
        &[Level::Read, Level::Write],
    ),
    (
        "organization_copilot_agent_settings",
        &[Level::Read, Level::Write],
    ),
    (
        "organization_announcement_banners",
        &[Level::Read, Level::Write],
    ),
    ("organization_events", &[Level::Read]),
    ("organization_hooks", &[Level::Read, Level::Write]),
    (
        "organization_personal_access_tokens",
        &[Level::Read, Level::Write],
    ),
    (
        "organization_personal_access_token_requests",
        &[Level::Read, Level::Write],
    ),
    ("organization_plan", &[Level::Read]),
    (
        "organization_projects",
        &[Level::Read, Level::Write, Level::Admin],
    ),
    ("organization_packages", &[Level::Read, Level::Write]),
    ("organization_secrets", &[Level::Read, Level::Write]),
    (
        "organization_self_hosted_runners",
        &[Level::Read, Level::Write],
    ),
    ("organization_user_blocking", &[Level::Read, Level::Write]),
    ("email_addresses", &[Level::Read, Level::Write]),
    ("followers", &[Level::Read, Level::Write]),
    ("git_ssh_keys", &[Level::Read, Level::Write]),
    ("gpg_keys", &[Level::Read, Level::Write]),
    ("interaction_limits", &[Level::Read, Level::Write]),
    ("profile", &[Level::Write]),
    ("starring", &[Level::Read, Level::Write]),
    (
        "enterprise_custom_properties_for_organizations",
        &[Level::Read, Level::Write, Level::Admin],
    ),
];

/// A permission request: API name (underscores) -> level. Sorted, so logs and request
/// bodies come out the same every run.
pub type PermissionSet = BTreeMap<&'static str, Level>;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PermissionError {
    #[error("unknown permission `{given}`{}", suggestion(given).map(|name| format!(" (did you mean `{}`?)", name.replace('_', "-"))).unwrap_or_default())]
    UnknownName { given: String },
    #[error(
        "permission `{name}` cannot be `{given}`; allowed: {}",
        join_levels(allowed)
    )]
    UnknownLevel {
        name: &'static str,
        given: String,
        allowed: &'static [Level],
    },
    /// A permission problem at a place in the `permissions` YAML.
    #[error("line {line}, column {column}: {source}")]
    At {
        line: u64,
        column: u64,
        source: Box<PermissionError>,
    },
    #[error("line {line}, column {column}: {message}")]
    Syntax {
        line: u64,
        column: u64,
        message: String,
    },
    #[error("{0}")]
    YamlShape(String),
    #[error("permission `{name}` is named twice with different levels ({first} and {second})")]
    Conflict {
        name: &'static str,
        first: Level,
        second: Level,
    },
}

fn join_levels(levels: &[Level]) -> String {
    levels
        .iter()
        .map(|level| level.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every valid name as a user would type it in an input, for error hints.
pub fn valid_names() -> String {
    PERMISSIONS
        .iter()
        .map(|(name, _)| name.replace('_', "-"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Looks a name up whether the user wrote it with hyphens (input style) or underscores
/// (API style): people copy both from GitHub's docs.
pub fn lookup(name: &str) -> Option<(&'static str, &'static [Level])> {
    let normalized = name.trim().to_ascii_lowercase().replace('-', "_");
    PERMISSIONS
        .iter()
        .find(|(known, _)| *known == normalized)
        .copied()
}

pub fn parse_one(name: &str, level: &str) -> Result<(&'static str, Level), PermissionError> {
    let (api_name, allowed) = lookup(name).ok_or_else(|| PermissionError::UnknownName {
        given: name.trim().to_owned(),
    })?;
    let level_text = level.trim();
    match Level::parse(level_text) {
        Some(level) if allowed.contains(&level) => Ok((api_name, level)),
        _ => Err(PermissionError::UnknownLevel {
            name: api_name,
            given: level_text.to_owned(),
            allowed,
        }),
    }
}

/// Adds one permission, refusing the same name at two different levels (say, once as a
/// `permission-*` input and once in the YAML).
pub fn insert(
    set: &mut PermissionSet,
    name: &'static str,
    level: Level,
) -> Result<(), PermissionError> {
    match set.insert(name, level) {
        Some(previous) if previous != level => Err(PermissionError::Conflict {
            name,
            first: previous,
            second: level,
        }),
        _ => Ok(()),
    }
}

/// Larger than any honest permission list (55 names), small enough that parsing hostile
/// input costs nothing.
const MAX_YAML_BYTES: usize = 16 * 1024;

/// Parses the `permissions` input: a flat YAML mapping of name -> level.
pub fn parse_yaml(text: &str) -> Result<PermissionSet, PermissionError> {
    if text.len() > MAX_YAML_BYTES {
        return Err(PermissionError::YamlShape(format!(
            "the mapping is {} bytes long; a permission mapping fits in {MAX_YAML_BYTES}",
            text.len()
        )));
    }
    // A permission mapping has no use for anchors, aliases or nesting; the tight budget
    // turns alias bombs and deep nesting into an error before they cost anything.
    let mut budget = Budget::default();
    budget.max_events = 2_000;
    budget.max_aliases = 0;
    budget.max_anchors = 0;
    budget.max_depth = 4;
    budget.max_nodes = 1_000;
    budget.max_documents = 1;
    let mut options = Options::default();
    options.budget = Some(budget);
    options.duplicate_keys = DuplicateKeyPolicy::Error;
    options.with_snippet = false;
    let parsed: Option<HashMap<Spanned<String>, Spanned<String>>> =
        serde_saphyr::from_str_with_options(text, options).map_err(yaml_error)?;
    let mut entries: Vec<_> = parsed.unwrap_or_default().into_iter().collect();
    entries.sort_by_key(|(key, _)| (key.referenced.line(), key.referenced.column()));

    let mut set = PermissionSet::new();
    for (key, value) in entries {
        let at = |spanned: &Spanned<String>, error: PermissionError| PermissionError::At {
            line: spanned.referenced.line(),
            column: spanned.referenced.column(),
            source: Box::new(error),
        };
        let (name, level) = parse_one(&key.value, &value.value).map_err(|error| match error {
            PermissionError::UnknownName { .. } => at(&key, error),
            other => at(&value, other),
        })?;
        insert(&mut set, name, level).map_err(|error| at(&key, error))?;
    }
    Ok(set)
}

fn yaml_error(error: serde_saphyr::Error) -> PermissionError {
    let message = error.to_string();
    // Keep the first line, which is the cause, without the position the library appends
    // (it is reported separately).
    let first = message.lines().next().unwrap_or("not valid YAML");
    let cause = match first.rfind(" at line ") {
        Some(index) => &first[..index],
        None => first,
    };
    let cause = if cause.contains("budget breached") {
        "too complex for a permission mapping (anchors, aliases and nesting are not allowed)"
    } else {
        cause
    }
    .to_owned();
    match error.location() {
        Some(location) => PermissionError::Syntax {
            line: location.line(),
            column: location.column(),
            message: cause,
        },
        None => PermissionError::YamlShape(cause),
    }
}

/// The known permission closest to a misspelt one, if any is close enough to be a typo.
pub fn suggestion(given: &str) -> Option<&'static str> {
    let given = given.trim().to_ascii_lowercase().replace('-', "_");
    PERMISSIONS
        .iter()
        .map(|(name, _)| (edit_distance(&given, name), *name))
        .filter(|(distance, _)| *distance <= 2)
        .min()
        .map(|(_, name)| name)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            current.push(
                (previous[j] + cost)
                    .min(previous[j + 1] + 1)
                    .min(current[j] + 1),
            );
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    // Test tables spell their row types out in full.
    #![allow(clippy::type_complexity, clippy::unwrap_used)]
    use super::*;

    #[test]
    fn table_matches_the_github_schema() {
        let schema: BTreeMap<String, Vec<String>> =
            serde_json::from_str(include_str!("../fake-github/api/app-permissions.json")).unwrap();
        assert_eq!(schema.len(), PERMISSIONS.len());
        for (name, levels) in PERMISSIONS {
            let expected: Vec<&str> = schema[*name].iter().map(String::as_str).collect();
            let ours: Vec<&str> = levels.iter().map(|level| level.as_str()).collect();
            assert_eq!(ours, expected, "{name}");
        }
    }

    #[test]
    fn one_permission_table() {
        let cases: &[(&str, &str, Result<(&str, Level), &str>)] = &[
            ("contents", "read", Ok(("contents", Level::Read))),
            (
                "pull-requests",
                "write",
                Ok(("pull_requests", Level::Write)),
            ),
            (
                "pull_requests",
                " write ",
                Ok(("pull_requests", Level::Write)),
            ),
            (
                "Organization-Projects",
                "admin",
                Ok(("organization_projects", Level::Admin)),
            ),
            (
                "workflows",
                "read",
                Err("permission `workflows` cannot be `read`; allowed: write"),
            ),
            (
                "contents",
                "admin",
                Err("permission `contents` cannot be `admin`; allowed: read, write"),
            ),
            (
                "contents",
                "Write",
                Err("permission `contents` cannot be `Write`; allowed: read, write"),
            ),
            (
                "content",
                "read",
                Err("unknown permission `content` (did you mean `contents`?)"),
            ),
            ("zzzzzz", "read", Err("unknown permission `zzzzzz`")),
            ("", "read", Err("unknown permission ``")),
        ];
        for (name, level, expected) in cases {
            let got = parse_one(name, level).map_err(|error| error.to_string());
            assert_eq!(got, expected.map_err(str::to_owned), "{name}: {level}");
        }
    }

    #[test]
    fn yaml_table() {
        let ok: &[(&str, &[(&str, Level)])] = &[
            (
                "contents: read\npull-requests: write\n",
                &[("contents", Level::Read), ("pull_requests", Level::Write)],
            ),
            (
                "{contents: read, issues: write}",
                &[("contents", Level::Read), ("issues", Level::Write)],
            ),
            ("# nothing asked\n", &[]),
            ("", &[]),
            (
                "pull_requests: write\npull-requests: write\n",
                &[("pull_requests", Level::Write)],
            ),
        ];
        for (text, expected) in ok {
            let got = parse_yaml(text).unwrap();
            let expected: PermissionSet = expected.iter().copied().collect();
            assert_eq!(got, expected, "{text:?}");
        }
    }

    #[test]
    fn yaml_refusals_say_where() {
        let bad: &[(&str, &str)] = &[
            (
                "contents: read\nissues: maybe\n",
                "line 2, column 9: permission `issues` cannot be `maybe`",
            ),
            (
                "contents: read\nissuez: write\n",
                "line 2, column 1: unknown permission `issuez`",
            ),
            (
                "contents: read\npull-requests: read\npull_requests: write\n",
                "line 3, column 1: permission `pull_requests` is named twice",
            ),
            ("contents: read\ncontents: write\n", "line 2"),
            ("contents: [read]\n", "line 1"),
            ("contents: {level: read}\n", "line 1"),
            ("- contents\n- read\n", "line 1"),
            ("contents: 'read\n", "line"),
        ];
        for (text, expected) in bad {
            let error = parse_yaml(text).unwrap_err().to_string();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }

    #[test]
    fn hostile_yaml_is_refused_quickly() {
        let laughs = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n";
        let nested = format!("{}x{}", "[".repeat(100), "]".repeat(100));
        let deep_block = (0..20)
            .map(|depth| format!("{}k{depth}:\n", "  ".repeat(depth)))
            .collect::<String>();
        let huge = "contents: read\n".repeat(5_000);
        let cases = [
            (
                laughs.to_owned(),
                "line 1, column 7: too complex for a permission mapping",
            ),
            (nested, "line 1, column "),
            (deep_block, "line "),
            (huge, "the mapping is 75000 bytes long"),
        ];
        for (text, expected) in cases {
            let started = std::time::Instant::now();
            let error = parse_yaml(&text).unwrap_err().to_string();
            assert!(started.elapsed() < std::time::Duration::from_secs(1));
            assert!(error.contains(expected), "{error}");
        }
    }
}
