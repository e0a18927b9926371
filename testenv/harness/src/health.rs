//! Plain HTTP health checks on loopback (etcd's /health, kwok's /healthz): one GET, the status line and body.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// `Ok(body)` for a 200 answer, `Err(what happened)` otherwise.
pub fn get(port: u16, path: &str) -> Result<String, String> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").map_err(|e| e.to_string())?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).map_err(|e| e.to_string())?;
    let status = buf.lines().next().unwrap_or("").to_string();
    let body = buf.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    if status.split_whitespace().nth(1) == Some("200") { Ok(body) } else { Err(format!("{status} {body}")) }
}
