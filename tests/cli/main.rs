//! CLI tests: the built `poolshift` binary, and the machine's `kubectl` against `poolshift sim serve`.

mod commands;
mod kubectl;
mod sim_serve;
mod support;
