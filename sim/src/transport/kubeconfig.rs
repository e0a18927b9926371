//! A kubeconfig that points kubectl (or any client) at the simulator's TCP port.

use std::net::SocketAddr;
use std::path::Path;

pub const CONTEXT: &str = "kubesim";

pub fn render(addr: SocketAddr) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: {CONTEXT}
  cluster:
    server: http://{addr}
contexts:
- name: {CONTEXT}
  context:
    cluster: {CONTEXT}
    user: {CONTEXT}
    namespace: default
current-context: {CONTEXT}
users:
- name: {CONTEXT}
  user:
    token: kubesim
"
    )
}

pub fn write(path: &Path, addr: SocketAddr) -> std::io::Result<()> {
    std::fs::write(path, render(addr))
}
