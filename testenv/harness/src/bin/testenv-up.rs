//! Starts a real control plane by hand (`testenv/up.sh`), optionally loads a scenario into it, prints how to
//! point kubectl and poolshift at it, and keeps it running until Ctrl-C or SIGTERM.
//!
//! Usage: testenv-up [--scenario FILE] [--prefix NAME]

use std::path::PathBuf;

use kubesim::scenario::Scenario;
use poolshift_testenv::world::{self, LoadOptions};
use poolshift_testenv::{ControlPlane, Options};

fn usage() -> ! {
    eprintln!("usage: testenv-up [--scenario FILE] [--prefix NAME]");
    std::process::exit(2)
}

fn main() {
    let mut scenario: Option<PathBuf> = None;
    let mut prefix: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--scenario" => scenario = Some(args.next().unwrap_or_else(|| usage()).into()),
            "--prefix" => prefix = Some(args.next().unwrap_or_else(|| usage())),
            _ => usage(),
        }
    }
    let scenario = scenario.map(|p| {
        Scenario::load(&p).unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(2)
        })
    });
    let cp = ControlPlane::start(Options::default()).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1)
    });
    let rt = tokio::runtime::Runtime::new().unwrap_or_else(|e| {
        eprintln!("tokio: {e}");
        std::process::exit(1)
    });
    let mem: u64 = cp.memory().iter().map(|(_, b)| b).sum();
    println!("control plane v1.36.3 up in {:.1} s, {} MiB resident", cp.started_in().as_secs_f64(), mem >> 20);
    if let Some(s) = scenario {
        let client = rt.block_on(cp.client()).unwrap_or_else(|e| {
            eprintln!("{e}");
            std::process::exit(1)
        });
        let opts = LoadOptions { prefix, rebase_versions: true };
        match rt.block_on(world::load(&client, &s, &opts)) {
            Ok(w) => {
                println!("scenario {} loaded in {:.1} s: pools {:?}", s.name, w.settled_in.as_secs_f64(), w.pools);
                for n in &w.notes {
                    println!("  note: {n}");
                }
            }
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(2)
            }
        }
    }
    println!("logs:   {}", cp.logs().display());
    println!("audit:  {}", cp.audit_log().display());
    println!("export KUBECONFIG={}", cp.kubeconfig().display());
    println!("export PATH={}:$PATH   # the built kubectl", cp.binaries().dir.display());
    println!("kubectl get nodes -o wide");
    println!(
        "poolshift with a cluster file: cluster.kubeconfig: {} and provider: {{kind: kwok}}",
        cp.kubeconfig().display()
    );
    println!("Ctrl-C stops it.");
    rt.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
        }
    });
    drop(cp);
}
