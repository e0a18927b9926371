//! CLI tests: the built `poolshift` binary, and kubectl (the one testenv/build.sh builds, first on PATH in
//! `.ci/run`) against `poolshift sim serve`.

mod agent;
mod commands;
mod config;
mod fleet;
mod guided;
mod kubectl;
mod notify;
mod onprem;
mod operator;
mod plan;
mod plan_file;
mod release_target;
mod runbooks;
mod sim_serve;
mod support;
mod upgrade;
