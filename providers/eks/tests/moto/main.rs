//! The EKS providers against moto in server mode (started per test on a free 127.0.0.1 port), with a thin
//! proxy in front of it for the lifecycle, failures, throttling and SSM parameters moto lacks (`proxy.rs`).
//! Requires moto: `.ci/run` installs it into `.ci/venv` and exports MOTO_SERVER; without it these tests fail.

mod asg;
mod eks;
mod harness;
mod proxy;
mod units;
