//! On-prem provider tests, one binary (a module per area): the exec protocol with the reference kubesim
//! plugin against the simulator served over TCP, misbehaving plugins, the pre-provisioned provider, and
//! whole upgrades through the engine with each.

mod kubesim_plugin;
mod misbehaving;
mod preprovisioned;
mod support;
mod upgrade;
