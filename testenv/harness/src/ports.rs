//! Free loopback ports, taken by binding port 0 and letting it go.

use std::net::TcpListener;

use crate::TestenvError;

/// A port that was free on 127.0.0.1 a moment ago.
pub fn free() -> Result<u16, TestenvError> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(TestenvError::Port)?;
    Ok(l.local_addr().map_err(TestenvError::Port)?.port())
}
