//! `poolshift sim serve` without kubectl: argument and scenario errors.

use std::io::Write;
use std::process::Stdio;

use crate::support::{STARTUP_LIMIT, poolshift, run, stderr};

#[test]
fn missing_scenario_file_exits_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.yaml");
    let kubeconfig = dir.path().join("kc");
    let o =
        run(&["sim", "serve", "--scenario", missing.to_str().unwrap(), "--kubeconfig", kubeconfig.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains(missing.to_str().unwrap()), "{}", stderr(&o));
    assert!(!kubeconfig.exists(), "no kubeconfig is written for a cluster that is not served");
}

/// Needs the scenario parser (the placeholder accepts any text).
#[test]
fn malformed_scenario_exits_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.yaml");
    let mut f = std::fs::File::create(&path).unwrap();
    writeln!(f, "name: broken\npools:\n  - name: blue\n    nodes: [unclosed").unwrap();
    let mut child = poolshift()
        .args(["sim", "serve", "--port", "0", "--scenario"])
        .arg(&path)
        .arg("--kubeconfig")
        .arg(dir.path().join("kc"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let kubeconfig = dir.path().join("kc");
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if kubeconfig.exists() || start.elapsed() > STARTUP_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("sim serve accepted a malformed scenario and started serving");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(2), "{err}");
    assert!(err.contains(path.to_str().unwrap()), "the error names the file: {err}");
}
