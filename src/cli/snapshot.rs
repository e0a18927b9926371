//! `poolshift snapshot -o FILE`: saves what `plan` reads from the cluster (nodes, pods, PDBs, workload
//! scales, the API server's version) as JSON, for offline planning and for attaching to a change request.
//! The cluster is the configuration's context (`-c`), else the current kubeconfig context. With a
//! configuration, the provider's description of each pool (or `--pool`'s) and its offered versions are
//! recorded too, so that `plan --from-snapshot` needs neither cluster nor provider. Reads only.

use std::io::Write;

use super::args::SnapshotArgs;
use super::connect::client_for;
use super::error::CliError;
use super::provider::build_provider;
use crate::config::{ClusterConfig, ConfigError};
use crate::exit::Exit;
use crate::kube::KubeCluster;
use crate::ports::Cluster;
use crate::session::{SessionError, provider_record};

pub async fn run(args: &SnapshotArgs) -> Result<Exit, CliError> {
    let config = match ClusterConfig::locate(args.config.as_deref()) {
        Ok(file) => Some(ClusterConfig::load(&file)?),
        Err(ConfigError::Missing) => None,
        Err(e) => return Err(e.into()),
    };
    let cluster = config.as_ref().map(|c| &c.cluster);
    let client =
        client_for(cluster.and_then(|c| c.kubeconfig.as_deref()), cluster.and_then(|c| c.context.as_deref())).await?;
    let mut snapshot = KubeCluster::new(client.clone()).snapshot().await?;
    if let Some(config) = &config {
        if let Some(name) = &args.pool {
            config.pool(Some(name))?; // an unknown --pool is an error naming the known ones
        }
        for pool in config.pools.iter().filter(|p| args.pool.as_deref().is_none_or(|name| name == p.name)) {
            let provider = build_provider(&config.provider, &client, pool).await?;
            let record = provider_record(provider.as_ref(), &pool.name).await.map_err(SessionError::from)?;
            snapshot.providers.push(record);
        }
    }
    let mut json = serde_json::to_vec_pretty(&snapshot).map_err(|e| CliError::Output(e.into()))?;
    json.push(b'\n');
    let write = |path: &std::path::Path| -> std::io::Result<()> {
        let mut f = std::fs::File::create(path)?;
        f.write_all(&json)?;
        f.sync_all()
    };
    write(&args.output).map_err(|source| CliError::WriteFile { path: args.output.clone(), source })?;
    let msg = format!(
        "wrote the snapshot of {} nodes, {} pods and {} PodDisruptionBudgets (API server {}){} to {}\n",
        snapshot.nodes.len(),
        snapshot.pods.len(),
        snapshot.pdbs.len(),
        snapshot.server_version,
        if snapshot.providers.is_empty() {
            String::new()
        } else {
            let pools: Vec<&str> = snapshot.providers.iter().map(|r| r.blue.name.as_str()).collect();
            format!(", with the provider's description of pool {}", pools.join(", "))
        },
        args.output.display()
    );
    super::write_stdout(msg.as_bytes())?;
    Ok(Exit::Done)
}
