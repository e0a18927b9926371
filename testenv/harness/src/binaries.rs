//! Where the control plane's binaries are: `$POOLSHIFT_TESTENV_BIN`, else what `testenv/build.sh --print`
//! says (it builds nothing and fails when something is missing).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::TestenvError;

/// The commands a control plane needs.
pub const COMMANDS: [&str; 6] =
    ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "kubectl"];

#[derive(Debug, Clone)]
pub struct Binaries {
    pub dir: PathBuf,
}

impl Binaries {
    pub fn locate() -> Result<Self, TestenvError> {
        let dir = match std::env::var_os("POOLSHIFT_TESTENV_BIN") {
            Some(d) => PathBuf::from(d),
            None => {
                let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../build.sh");
                let out = Command::new("bash").arg(&script).arg("--print").output().map_err(|e| {
                    TestenvError::BinariesMissing { reason: format!("cannot run {}: {e}", script.display()) }
                })?;
                if !out.status.success() {
                    return Err(TestenvError::BinariesMissing {
                        reason: format!("{} --print found no complete build", script.display()),
                    });
                }
                PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
            }
        };
        for c in COMMANDS {
            if !dir.join(c).is_file() {
                return Err(TestenvError::BinariesMissing { reason: format!("{} is missing", dir.join(c).display()) });
            }
        }
        Ok(Self { dir })
    }

    pub fn path(&self, command: &str) -> PathBuf {
        self.dir.join(command)
    }
}
