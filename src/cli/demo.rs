//! `poolshift demo`: the first command a new user runs. It starts the simulated demo cluster in-process
//! and shows it; the blue/green upgrade it will run there comes with the upgrade engine.

use kubesim::{SimOptions, Simulator};

use super::args::DemoArgs;
use super::error::CliError;
use crate::cluster_view::ClusterView;
use crate::exit::Exit;

/// Simulated seconds per real second: kubelet and provisioning delays of minutes pass in seconds.
const DEMO_SPEED: f64 = 60.0;

pub async fn run(args: &DemoArgs) -> Result<Exit, CliError> {
    let path = match &args.scenario {
        Some(p) => p.clone(),
        None => super::scenario::demo_path()?,
    };
    let scenario = super::scenario::load(&path)?;
    let sim = Simulator::from_scenario(&scenario, SimOptions { seed: scenario.seed, speed: DEMO_SPEED })?;
    let view = ClusterView::fetch(&sim.client(), &scenario.name).await?;
    let mut text = view.render();
    text.push_str(
        "\nThis build shows the simulated cluster only: the blue/green upgrade of its pools is not available yet.\n",
    );
    super::write_stdout(text.as_bytes())?;
    Ok(Exit::Done)
}
