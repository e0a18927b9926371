//! Every runbook a message names exists: the ids in `runbook: <id>` and `runbooks/<id>.md` in the sources of
//! the binary and the providers are files of `runbooks/`, each listed in `runbooks/README.md`; and real
//! outcome texts carry their id.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use poolshift::engine::Outcome;
use poolshift::model::checkpoint::Blocker;

use crate::support::{repo_root, run, stderr};

/// The `.rs` files under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display())) {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// The ids following each `marker` in `text` (lowercase letters, digits and dashes; empty ones skipped).
fn ids_after<'a>(text: &'a str, marker: &str) -> Vec<&'a str> {
    text.match_indices(marker)
        .map(|(i, _)| {
            let rest = &text[i + marker.len()..];
            let end =
                rest.find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')).unwrap_or(rest.len());
            &rest[..end]
        })
        .filter(|id| !id.is_empty())
        .collect()
}

/// Every runbook id named in the sources of `src/` and `providers/*/src`, with the files naming it.
fn referenced_ids(root: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    for provider in std::fs::read_dir(root.join("providers")).expect("providers/") {
        let src = provider.expect("a provider").path().join("src");
        if src.is_dir() {
            rust_files(&src, &mut files);
        }
    }
    assert!(files.len() > 50, "the scan found the sources: {} files", files.len());
    let mut ids: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
        let shown = file.strip_prefix(root).unwrap_or(&file).display().to_string();
        for id in ids_after(&text, "runbook: ").into_iter().chain(ids_after(&text, "runbooks/")) {
            let id = id.strip_suffix(".md").unwrap_or(id).trim_end_matches('-');
            ids.entry(id.to_string()).or_default().insert(shown.clone());
        }
    }
    ids
}

/// The runbook files: `runbooks/<id>.md`, README.md aside.
fn runbook_files(root: &Path) -> BTreeSet<String> {
    std::fs::read_dir(root.join("runbooks"))
        .expect("runbooks/")
        .map(|e| e.expect("a runbook").file_name().to_string_lossy().into_owned())
        .filter(|name| name != "README.md")
        .filter_map(|name| name.strip_suffix(".md").map(str::to_string))
        .collect()
}

#[test]
fn ids_are_read_from_messages() {
    let text =
        r#"no terminal: pass --yes (runbook: scheduled-upgrades)", "see runbooks/pdb-blocked.md", "(runbook: ")"#;
    assert_eq!(ids_after(text, "runbook: "), ["scheduled-upgrades"]);
    assert_eq!(ids_after(text, "runbooks/"), ["pdb-blocked"]);
}

#[test]
fn every_runbook_a_message_names_exists_and_is_listed() {
    let root = repo_root();
    let ids = referenced_ids(root);
    let files = runbook_files(root);
    let missing: Vec<String> = ids
        .iter()
        .filter(|(id, _)| !files.contains(*id))
        .map(|(id, named_in)| format!("{id} (named in {})", named_in.iter().cloned().collect::<Vec<_>>().join(", ")))
        .collect();
    assert!(missing.is_empty(), "runbooks named by messages but missing from runbooks/: {missing:?}");
    assert!(ids.len() >= 8, "at least 8 distinct runbooks are named by messages: {:?}", ids.keys());

    let readme = std::fs::read_to_string(root.join("runbooks/README.md")).expect("runbooks/README.md");
    let unlisted: Vec<&String> = files.iter().filter(|id| !readme.contains(&format!("[{id}]({id}.md)"))).collect();
    assert!(unlisted.is_empty(), "runbooks missing from the table of runbooks/README.md: {unlisted:?}");
}

#[test]
fn a_blocked_outcome_names_its_runbook() {
    let blocked = Outcome::Blocked {
        reason: "batch 2 of 5: drain timeout reached; resolve the blockers and run `poolshift resume`".into(),
        blockers: vec![Blocker {
            pod: "shop/web-7d9f-x2k".parse().expect("a pod"),
            node: "blue-3".into(),
            pdb: Some(poolshift::model::identity::PdbKey::new("shop", "web")),
            reason: "The disruption budget web needs 3 healthy pods and has 3 currently".into(),
        }],
    };
    let text = poolshift::cli::outcome::render(&blocked, "workers", "-c prod.yaml");
    let last = text.lines().last().expect("the closing line");
    assert!(last.ends_with("(runbook: pdb-blocked)"), "{text}");
    assert!(repo_root().join("runbooks/pdb-blocked.md").is_file());
}

#[test]
fn a_job_without_yes_is_pointed_at_the_scheduled_upgrades_runbook() {
    // No terminal on stdin and no --yes: refused before anything is contacted.
    let o = run(&["upgrade", "-c", "does-not-matter.yaml"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("pass --yes to run unattended (runbook: scheduled-upgrades)"), "{err}");
}
