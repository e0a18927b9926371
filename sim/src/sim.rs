//! [`Simulator`]: a store, its API server and its components, ready to be talked to in-process or over TCP.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::api::ApiServer;
use crate::clock::SimClock;
use crate::controllers::{self, Reconciler};
use crate::store::Store;
use crate::transport::{inprocess::InProcess, tcp};

/// How the simulator keeps time.
#[derive(Debug, Clone)]
pub struct SimOptions {
    pub seed: u64,
    /// Simulated seconds per real second (ignored for virtual time, where the tokio clock is paused).
    pub speed: f64,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self { seed: 1, speed: 1.0 }
    }
}

pub struct Simulator {
    store: Arc<Store>,
    server: ApiServer,
    manager: JoinHandle<()>,
}

impl Simulator {
    /// An empty cluster with the standard components running. Must be called inside a tokio runtime.
    pub fn new(opts: SimOptions) -> Self {
        let clock = SimClock::new(SimClock::virtual_from_epoch().now(), opts.speed);
        let store = Arc::new(Store::new(opts.seed, clock));
        Self::with_store(store, crate::components())
    }

    pub fn with_store(store: Arc<Store>, components: Vec<Box<dyn Reconciler>>) -> Self {
        let manager = tokio::spawn(controllers::run(store.clone(), components));
        let server = ApiServer::new(store.clone());
        Self { store, server, manager }
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub fn api(&self) -> &ApiServer {
        &self.server
    }

    /// A `kube::Client` talking to this simulator in-process.
    pub fn client(&self) -> kube::Client {
        kube::Client::new(InProcess::new(self.server.clone()), "default")
    }

    /// Serves the API on `addr` (port 0 picks one); returns the bound address and the server task.
    pub async fn serve_tcp(&self, addr: SocketAddr) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
        let (listener, bound) = tcp::bind(addr).await?;
        Ok((bound, tcp::serve(self.server.clone(), listener)))
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        self.manager.abort();
    }
}
