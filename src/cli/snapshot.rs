//! `poolshift snapshot -o FILE`: saves what `plan` reads from the cluster (nodes, pods, PDBs, workload
//! scales, the API server's version) as JSON, for offline planning and for attaching to a change request.
//! The cluster is the configuration's context (`-c`), else the current kubeconfig context. Reads only.

use std::io::Write;

use super::args::SnapshotArgs;
use super::connect::client_for;
use super::error::CliError;
use crate::config::{ClusterConfig, ConfigError};
use crate::exit::Exit;
use crate::kube::KubeCluster;
use crate::ports::Cluster;

pub async fn run(args: &SnapshotArgs) -> Result<Exit, CliError> {
    let config = match ClusterConfig::locate(args.config.as_deref()) {
        Ok(file) => Some(ClusterConfig::load(&file)?),
        Err(ConfigError::Missing) => None,
        Err(e) => return Err(e.into()),
    };
    let cluster = config.as_ref().map(|c| &c.cluster);
    let client =
        client_for(cluster.and_then(|c| c.kubeconfig.as_deref()), cluster.and_then(|c| c.context.as_deref())).await?;
    let snapshot = KubeCluster::new(client).snapshot().await?;
    let mut json = serde_json::to_vec_pretty(&snapshot).map_err(|e| CliError::Output(e.into()))?;
    json.push(b'\n');
    let write = |path: &std::path::Path| -> std::io::Result<()> {
        let mut f = std::fs::File::create(path)?;
        f.write_all(&json)?;
        f.sync_all()
    };
    write(&args.output).map_err(|source| CliError::WriteFile { path: args.output.clone(), source })?;
    let msg = format!(
        "wrote the snapshot of {} nodes, {} pods and {} PodDisruptionBudgets (API server {}) to {}\n",
        snapshot.nodes.len(),
        snapshot.pods.len(),
        snapshot.pdbs.len(),
        snapshot.server_version,
        args.output.display()
    );
    super::write_stdout(msg.as_bytes())?;
    Ok(Exit::Done)
}
