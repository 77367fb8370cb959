//! The container contract, checked by reading (there is no Docker engine here): the paths
//! action.yml and open/action.yml name are the ones the Dockerfile produces, from binaries
//! cargo builds, in an image that follows the runner's rules for Docker actions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)]

mod common;

use common::manifest;
use token_lease::permissions::PERMISSIONS;

fn dockerfile() -> String {
    std::fs::read_to_string(common::repo_root().join("Dockerfile")).unwrap()
}

/// Instructions with continuation lines joined and comments dropped.
fn instructions(text: &str) -> Vec<String> {
    let mut joined = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
        } else {
            current.push_str(trimmed);
            if !current.trim().is_empty() {
                joined.push(current.trim().to_owned());
            }
            current.clear();
        }
    }
    joined
}

/// Instructions of the last stage, the image the runner starts.
fn final_stage() -> Vec<String> {
    let all = instructions(&dockerfile());
    let last_from = all
        .iter()
        .rposition(|line| line.starts_with("FROM "))
        .unwrap();
    all[last_from..].to_vec()
}

#[test]
fn action_entrypoints_are_the_binaries_the_image_holds() {
    let stage = final_stage();
    let copy = stage
        .iter()
        .find(|line| line.starts_with("COPY --from=builder"))
        .expect("final stage copies the binaries");
    let words: Vec<&str> = copy.split_whitespace().collect();
    let destination = words.last().unwrap().trim_end_matches('/');
    let copied: Vec<String> = words[2..words.len() - 1]
        .iter()
        .map(|source| format!("{destination}/{}", source.rsplit('/').next().unwrap()))
        .collect();
    let builder_copy = instructions(&dockerfile())
        .into_iter()
        .find(|line| line.contains("cargo build"))
        .unwrap();

    for action in [common::mint_action(), common::open_action()] {
        let runs = manifest(&action.manifest).runs;
        assert_eq!(runs["using"], "docker");
        assert_eq!(
            runs["post-if"], "always()",
            "revocation must run when the job fails or is cancelled"
        );
        for key in ["entrypoint", "post-entrypoint"] {
            let path = &runs[key];
            assert!(path.starts_with('/'), "{key} must be absolute: {path}");
            assert!(
                copied.contains(path),
                "{key} {path} is not in the image ({copied:?})"
            );
            let binary = path.rsplit('/').next().unwrap();
            assert!(
                builder_copy.contains(&format!("target/release/{binary}")),
                "{binary} is not built"
            );
        }
        assert_ne!(
            runs["entrypoint"], runs["post-entrypoint"],
            "args reach every stage: main and post need distinct entrypoints"
        );
    }
    // The image's default entrypoint is the mint step, exec form, absolute.
    let entrypoint = stage
        .iter()
        .find(|line| line.starts_with("ENTRYPOINT"))
        .unwrap();
    assert_eq!(
        entrypoint,
        &format!(
            "ENTRYPOINT [\"{}\"]",
            manifest(&common::mint_action().manifest).runs["entrypoint"]
        )
    );
    // Cargo's binary names are the ones the image copies.
    for binary in [common::MINT, common::POST, common::OPEN] {
        let name = std::path::Path::new(binary)
            .file_name()
            .unwrap()
            .to_str()
            .unwrap();
        assert!(
            copied
                .iter()
                .any(|path| path.ends_with(&format!("/{name}"))),
            "{name}"
        );
    }
}

#[test]
fn both_actions_build_the_same_dockerfile() {
    assert_eq!(
        manifest(&common::mint_action().manifest).runs["image"],
        "Dockerfile"
    );
    // The runner builds with the Dockerfile's own directory as context, so ../Dockerfile from
    // open/ builds the repository root, like the mint action.
    assert_eq!(
        manifest(&common::open_action().manifest).runs["image"],
        "../Dockerfile"
    );
}

#[test]
fn the_image_follows_the_runners_rules() {
    let all = instructions(&dockerfile());
    for from in all.iter().filter(|line| line.starts_with("FROM ")) {
        assert!(
            from.contains("@sha256:"),
            "base image not pinned by digest: {from}"
        );
    }
    let stage = final_stage();
    assert!(
        stage.iter().all(|line| !line.starts_with("USER ")),
        "no USER: Docker actions run as root"
    );
    assert!(
        stage.iter().all(|line| !line.starts_with("WORKDIR ")),
        "no WORKDIR: the runner sets --workdir"
    );
    assert!(
        stage
            .iter()
            .any(|line| line.starts_with("RUN [\"/usr/local/bin/token-lease\"")),
        "a smoke step runs the binary"
    );
    assert!(all
        .iter()
        .any(|line| line.contains("--locked") && line.contains("--release")));
}

#[test]
fn every_input_and_output_is_described_and_every_permission_has_its_input() {
    for action in [common::mint_action(), common::open_action()] {
        let manifest = manifest(&action.manifest);
        for (name, input) in &manifest.inputs {
            assert!(!input.description.trim().is_empty(), "input {name}");
        }
        for (name, output) in &manifest.outputs {
            assert!(
                output["description"]
                    .as_str()
                    .is_some_and(|text| !text.is_empty()),
                "output {name}"
            );
        }
    }
    let inputs = manifest(&common::mint_action().manifest).inputs;
    for (name, _) in PERMISSIONS {
        assert!(
            inputs.contains_key(&format!("permission-{}", name.replace('_', "-"))),
            "permission-{name}"
        );
    }
    let permission_inputs = inputs
        .keys()
        .filter(|name| name.starts_with("permission-"))
        .count();
    assert_eq!(permission_inputs, PERMISSIONS.len());
    // Compatible with actions/create-github-app-token.
    for name in [
        "app-id",
        "client-id",
        "private-key",
        "owner",
        "repositories",
        "skip-token-revoke",
        "github-api-url",
    ] {
        assert!(inputs.contains_key(name), "{name}");
    }
    let outputs = manifest(&common::mint_action().manifest).outputs;
    for name in ["token", "installation-id", "app-slug", "expires-at"] {
        assert!(outputs.contains_key(name), "{name}");
    }
}
