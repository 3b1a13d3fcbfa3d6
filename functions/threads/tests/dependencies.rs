//! `threads` links no model access: not the agent crate, not rmcp, not the model client. Its
//! dependency tree is read with `cargo tree` (from the lockfile, offline) and checked; `turns`
//! is read the same way and must have them, so the check sees what it looks for.

use std::process::Command;

/// The packages a function without model access must not link.
const MODEL_ACCESS: &[&str] = &["chatkit-agent", "rmcp"];

/// Every package in `package`'s normal (non-dev) dependency tree, by name.
fn dependency_names(package: &str) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["tree", "--offline", "--locked", "-e", "normal,build", "--prefix", "none"])
        .args(["--format", "{p}", "-p", package])
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "cargo tree -p {package}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next().map(str::to_string))
        .collect()
}

#[test]
fn threads_links_no_model_access() {
    let threads = dependency_names("threads");
    assert!(threads.iter().any(|p| p == "chatkit-gateway"), "the tree was read: {threads:?}");
    for forbidden in MODEL_ACCESS {
        assert!(!threads.iter().any(|p| p == forbidden), "threads depends on {forbidden}");
    }
    // the model client is the agent's; its provider SDKs must not come in another way
    assert!(!threads
        .iter()
        .any(|p| p.starts_with("async-openai") || p.starts_with("aws-sdk-bedrock")));
}

#[test]
fn turns_links_the_agent() {
    let turns = dependency_names("turns");
    for needed in MODEL_ACCESS {
        assert!(
            turns.iter().any(|p| p == needed),
            "turns lacks {needed}: the check above would see nothing"
        );
    }
}
