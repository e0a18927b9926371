//! The command line itself: help, usage errors, completions, man page, the demo.

use crate::support::{poolshift, run, stderr, stdout};

const SUBCOMMANDS: [&str; 12] = [
    "demo",
    "plan",
    "upgrade",
    "status",
    "pause",
    "resume",
    "rollback",
    "abort",
    "snapshot",
    "sim",
    "completions",
    "man",
];

#[test]
fn help_lists_every_subcommand_and_the_exit_codes() {
    let o = run(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    let listed: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for cmd in SUBCOMMANDS {
        assert!(listed.contains(&cmd), "--help does not list {cmd}: {listed:?}");
    }
    assert!(out.contains("5  plan found blockers"), "exit codes missing from --help:\n{out}");
}

#[test]
fn sim_help_lists_serve() {
    let o = run(&["sim", "--help"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("serve"), "{}", stdout(&o));
}

#[test]
fn usage_errors_exit_2() {
    let cases: [&[&str]; 6] = [
        &["plan", "--bogus"],
        &["frobnicate"],
        &["plan", "--to", "1.31"],
        &["plan", "-o", "yaml"],
        &["snapshot"],
        &["sim", "serve", "--scenario", "x.yaml", "--speed", "0"],
    ];
    for args in cases {
        let o = run(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).starts_with("error: "), "{args:?}: {}", stderr(&o));
    }
    let o = run(&["plan", "--to", "1.31"]);
    assert!(
        stderr(&o)
            .contains("\"1.31\" is not latest-patch, next-minor, a version X.Y.Z (such as 1.31.4) or an EKS release"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn bad_log_level_is_a_usage_error() {
    let o = run(&["--log-level", "poolshift=loud", "man"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("invalid log level"), "{}", stderr(&o));
}

#[test]
fn completions_print_scripts() {
    let bash = run(&["completions", "bash"]);
    assert_eq!(bash.status.code(), Some(0));
    let script = stdout(&bash);
    assert!(script.contains("_poolshift()") && script.contains("complete -F _poolshift"), "{script}");
    assert!(script.contains("rollback"), "subcommands are completed");
    let zsh = run(&["completions", "zsh"]);
    assert!(stdout(&zsh).starts_with("#compdef poolshift"), "{}", stdout(&zsh));
    assert_eq!(run(&["completions", "tcsh"]).status.code(), Some(2));
}

#[test]
fn man_prints_a_roff_page() {
    let o = run(&["man"]);
    assert_eq!(o.status.code(), Some(0));
    let page = stdout(&o);
    assert!(page.contains(".TH poolshift 1"), "{page}");
    assert!(page.contains("snapshot"), "subcommands are listed");
}

#[test]
fn kubectl_plugin_runs_the_same_cli() {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-poolshift")).arg("--help").output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("Usage: kubectl poolshift"), "{}", stdout(&o));
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_kubectl-poolshift")).arg("plan").output().unwrap();
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn demo_with_a_missing_scenario_names_it() {
    let o = run(&["demo", "--scenario", "no/such/scenario.yaml", "--yes"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no/such/scenario.yaml"), "{}", stderr(&o));
}

/// The whole demo: the cluster, the plan, the upgrade with its blocker reported and resolved, the summary.
#[test]
fn demo_runs_the_whole_upgrade_without_breaking_a_budget() {
    let o = poolshift().args(["demo", "--yes"]).output().unwrap();
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "stderr:\n{}\nstdout:\n{out}", stderr(&o));
    assert!(out.starts_with("Cluster "), "{out}");
    assert!(out.contains("0 (blocks evictions)"), "the demo has a blocking PDB:\n{out}");
    assert!(out.contains("plan: pool blue 1.30.8 -> 1.31.4"), "{out}");
    assert!(out.contains("PDB finance/legacy-reporting"), "the blocker names its PDB:\n{out}");
    assert!(out.contains("phase: Done"), "{out}");
    assert!(out.contains("blue pool blue deleted"), "{out}");
    for line in ["PDB violations:            0", "lost pods:                 0", "nodes deleted with pods:   0"] {
        assert!(out.contains(line), "missing {line:?}:\n{out}");
    }
    assert!(out.contains("pods moved:                147"), "{out}");
}

#[test]
fn demo_without_a_terminal_needs_yes_and_changes_nothing() {
    let o = poolshift().args(["demo"]).stdin(std::process::Stdio::null()).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--yes"), "{}", stderr(&o));
}
