//! Test harness: a moto server (AWS emulator, server mode) per test on a free 127.0.0.1 port, AWS clients
//! with fake credentials scoped to their config, and the lifecycle proxy in front of moto (see `proxy.rs`).

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, ConfigLoader, Region, SdkConfig};
use aws_sdk_eks::config::Credentials;

pub const REGION: &str = "us-east-1";

/// A moto server process, killed on drop.
pub struct Moto {
    child: Child,
    pub url: String,
}

fn moto_binary() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let bin = match std::env::var_os("MOTO_SERVER") {
        Some(p) => {
            let p = PathBuf::from(p);
            if p.is_absolute() { p } else { root.join(p) }
        }
        None => root.join(".ci/venv/bin/moto_server"),
    };
    assert!(
        bin.exists(),
        "moto is missing: {} does not exist. These tests need moto in server mode: run `bash .ci/run` (it creates \
         .ci/venv with `pip install 'moto[server]'`), or `python3 -m venv .ci/venv && .ci/venv/bin/pip install \
         'moto[server]'`, or set MOTO_SERVER to a moto_server executable",
        bin.display()
    );
    bin
}

impl Moto {
    pub fn start() -> Moto {
        let bin = moto_binary();
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            // MOTO_LOG=1 shows moto's log (its tracebacks explain a 500).
            .stderr(if std::env::var_os("MOTO_LOG").is_some() { Stdio::inherit() } else { Stdio::null() })
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start moto ({}): {e}", bin.display()));
        let mut moto = Moto { child, url: format!("http://127.0.0.1:{port}") };
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!("moto exited before listening: {status}");
            }
            assert!(start.elapsed() < Duration::from_secs(90), "moto did not listen on port {port} within 90 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loader with fake credentials and quick retries (3 attempts, 10 ms initial backoff).
pub fn loader() -> ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(poolshift_provider_eks::https_client())
        .credentials_provider(Credentials::new("testing", "testing", None, None, "moto-tests"))
        .retry_config(RetryConfig::standard().with_max_attempts(3).with_initial_backoff(Duration::from_millis(10)))
}

/// Configuration for setting up fixtures straight in moto.
pub async fn direct(url: &str) -> SdkConfig {
    loader().region(Region::new(REGION)).endpoint_url(url).load().await
}
