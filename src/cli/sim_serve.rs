//! `poolshift sim serve`: a simulated cluster on 127.0.0.1 with a kubeconfig for kubectl and poolshift.

use std::net::{Ipv4Addr, SocketAddr};

use kubesim::{SimOptions, Simulator};

use super::args::ServeArgs;
use super::error::CliError;
use crate::exit::Exit;

pub async fn run(args: &ServeArgs) -> Result<Exit, CliError> {
    let scenario = super::scenario::load(&args.scenario)?;
    let sim = Simulator::from_scenario(&scenario, SimOptions { seed: scenario.seed, speed: args.speed })?;
    let (addr, server) = sim
        .serve_tcp(SocketAddr::from((Ipv4Addr::LOCALHOST, args.port)))
        .await
        .map_err(|source| CliError::Listen { port: args.port, source })?;
    let kubeconfig = std::path::absolute(&args.kubeconfig).unwrap_or_else(|_| args.kubeconfig.clone());
    kubesim::transport::kubeconfig::write(&kubeconfig, addr)
        .map_err(|source| CliError::WriteKubeconfig { path: kubeconfig.clone(), source })?;
    tracing::info!(%addr, scenario = %scenario.name, speed = args.speed, "simulator serving");
    let banner = format!(
        "kubesim serving scenario {} on http://{addr} (speed {}x); Ctrl-C stops it\nexport KUBECONFIG={}; kubectl get nodes\n",
        scenario.name,
        args.speed,
        kubeconfig.display()
    );
    super::write_stdout(banner.as_bytes())?;
    shutdown_signal().await?;
    server.abort();
    tracing::info!("simulator stopped");
    Ok(Exit::Done)
}

/// Waits for Ctrl-C (SIGINT) or SIGTERM.
async fn shutdown_signal() -> Result<(), CliError> {
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map_err(CliError::Signals)?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.map_err(CliError::Signals),
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.map_err(CliError::Signals)
    }
}
