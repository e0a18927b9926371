//! The files a control plane runs from: certificates, the token file, the audit policy, kwok's Stages and the
//! kubeconfig that tests, kubectl and poolshift use.

use std::path::{Path, PathBuf};

use crate::TestenvError;
use crate::pki::Pki;

/// Every request, at Metadata level (who, verb, resource, URI with its query such as `dryRun=All`, answer
/// code), once per request (when the response is complete).
const AUDIT_POLICY: &str = "apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived, ResponseStarted, Panic]
rules:
- level: Metadata
";

/// The user name poolshift's requests carry in the audit log (its kubeconfig: [`Files::poolshift_kubeconfig`]).
pub const POOLSHIFT_USER: &str = "poolshift-e2e";

pub struct Files {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub sa_key: PathBuf,
    pub sa_pub: PathBuf,
    pub tokens: PathBuf,
    pub audit_policy: PathBuf,
    pub audit_log: PathBuf,
    pub kwok_config: PathBuf,
    pub kubeconfig: PathBuf,
    pub poolshift_kubeconfig: PathBuf,
    pub etcd_data: PathBuf,
    pub logs: PathBuf,
}

pub fn write(path: &Path, content: &str) -> Result<(), TestenvError> {
    std::fs::write(path, content).map_err(|source| TestenvError::Write { path: path.to_path_buf(), source })
}

/// A kubeconfig for `server` with a bearer token (the CA file is referenced by path).
pub fn kubeconfig(server: &str, ca: &Path, user: &str, token: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: testenv
  cluster:
    server: {server}
    certificate-authority: {ca}
users:
- name: {user}
  user:
    token: {token}
contexts:
- name: testenv
  context: {{cluster: testenv, user: {user}}}
current-context: testenv
",
        ca = ca.display()
    )
}

impl Files {
    pub fn create(dir: &Path, pki: &Pki, server: &str) -> Result<Files, TestenvError> {
        let f = Files {
            ca: dir.join("ca.crt"),
            server_cert: dir.join("apiserver.crt"),
            server_key: dir.join("apiserver.key"),
            sa_key: dir.join("sa.key"),
            sa_pub: dir.join("sa.pub"),
            tokens: dir.join("tokens.csv"),
            audit_policy: dir.join("audit-policy.yaml"),
            audit_log: dir.join("logs/audit.log"),
            kwok_config: dir.join("kwok.yaml"),
            kubeconfig: dir.join("kubeconfig"),
            poolshift_kubeconfig: dir.join("poolshift.kubeconfig"),
            etcd_data: dir.join("etcd"),
            logs: dir.join("logs"),
        };
        std::fs::create_dir_all(&f.logs).map_err(|source| TestenvError::Write { path: f.logs.clone(), source })?;
        write(&f.ca, &pki.ca_pem)?;
        write(&f.server_cert, &format!("{}{}", pki.server_cert_pem, pki.ca_pem))?;
        write(&f.server_key, &pki.server_key_pem)?;
        write(&f.sa_key, &pki.sa_key_pem)?;
        write(&f.sa_pub, &pki.sa_pub_pem)?;
        write(
            &f.tokens,
            &format!(
                "{},admin,uid-admin,system:masters\n{},{POOLSHIFT_USER},uid-poolshift,system:masters\n",
                pki.admin_token, pki.poolshift_token
            ),
        )?;
        write(&f.audit_policy, AUDIT_POLICY)?;
        write(&f.kwok_config, crate::stages::KWOK_CONFIG)?;
        write(&f.kubeconfig, &kubeconfig(server, &f.ca, "admin", &pki.admin_token))?;
        write(&f.poolshift_kubeconfig, &kubeconfig(server, &f.ca, POOLSHIFT_USER, &pki.poolshift_token))?;
        Ok(f)
    }
}
