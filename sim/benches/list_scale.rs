//! Scale benchmark (not a test): a generated 5,000-node / 150,000-pod cluster served in-process, then a
//! paginated LIST of every pod (limit 500) through the in-process `kube::Client`. Prints the wall time of
//! the LIST and the process's peak memory (VmHWM) against the targets (<= 2 s, <= 2 GiB) as ratios.
//!
//! Run (optimised build, from the repository root):
//!
//! ```sh
//! cargo bench -p kubesim --bench list_scale
//! ```

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::ListParams;
use kubesim::scenario::Scenario;
use kubesim::{SimOptions, Simulator};

const SCENARIO: &str = "
name: scale-5000
seed: 1
generate:
  pools: 10
  nodes_per_pool: 500
  deployments: 5000
  pods_per_deployment: 30
  namespaces: 50
";

const TARGET_LIST: Duration = Duration::from_secs(2);
const TARGET_RSS_BYTES: u64 = 2 << 30;

/// Peak resident set size of this process, from /proc/self/status (Linux).
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

async fn list_all_pods(client: &kube::Client) -> anyhow::Result<(usize, usize)> {
    let api: Api<Pod> = Api::all(client.clone());
    let (mut items, mut pages) = (0, 0);
    let mut token: Option<String> = None;
    loop {
        let mut lp = ListParams::default().limit(500);
        if let Some(t) = token.take() {
            lp = lp.continue_token(&t);
        }
        let page = api.list(&lp).await?;
        items += page.items.len();
        pages += 1;
        match page.metadata.continue_ {
            Some(t) if !t.is_empty() => token = Some(t),
            _ => return Ok((items, pages)),
        }
    }
}

fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    rt.block_on(async {
        let scenario = Scenario::parse(SCENARIO, "<list_scale>")?;
        let started = Instant::now();
        let sim = Simulator::from_scenario(&scenario, SimOptions::default())?;
        let load = started.elapsed();
        let client = sim.client();
        let (nodes, pods) = {
            let st = sim.store().lock();
            (st.nodes.len(), st.pods.len())
        };
        println!("generated cluster: {nodes} nodes, {pods} pods in {:.2} s", load.as_secs_f64());

        let started = Instant::now();
        let (items, pages) = list_all_pods(&client).await?;
        let list = started.elapsed();
        let ratio = list.as_secs_f64() / TARGET_LIST.as_secs_f64();
        println!(
            "list {items} pods ({pages} pages of 500): {:.2} s (target {} s, ratio {ratio:.2})",
            list.as_secs_f64(),
            TARGET_LIST.as_secs()
        );
        match peak_rss_bytes() {
            Some(rss) => println!(
                "peak RSS: {:.2} GiB (target 2 GiB, ratio {:.2})",
                rss as f64 / f64::from(1u32 << 30),
                rss as f64 / TARGET_RSS_BYTES as f64
            ),
            None => println!("peak RSS: unavailable (no /proc/self/status)"),
        }
        anyhow::ensure!(items == 150_000, "listed {items} pods, expected 150000");
        Ok(())
    })
}
