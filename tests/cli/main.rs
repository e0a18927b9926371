//! CLI tests: the built `poolshift` binary, and the machine's `kubectl` against `poolshift sim serve`.

mod agent;
mod commands;
mod config;
mod kubectl;
mod onprem;
mod plan;
mod sim_serve;
mod support;
mod upgrade;
