//! The `poolshift` command line: argument definitions in `args`, one module per command.

mod abort;
pub mod args;
mod busy;
mod completions;
mod connect;
#[cfg(feature = "sim")]
mod demo;
pub mod error;
mod gatekeepers;
pub mod guided;
mod man;
mod notifications;
pub mod outcome;
mod pause;
mod plan;
mod plan_file;
mod progress;
mod prompt;
pub mod provider;
mod resume;
mod rollback;
mod scenario;
mod sim_serve;
mod snapshot;
mod status;
mod upgrade;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

pub use args::{Cli, Command};
pub use error::CliError;

use crate::exit::Exit;

/// Parses the process arguments, runs the command and returns the exit code. `bin_name` is how the user
/// invoked us (`poolshift`, or `kubectl poolshift` for the plugin), shown in help and usage messages.
pub fn main(bin_name: &'static str) -> ExitCode {
    let matches = match Cli::command().bin_name(bin_name).try_get_matches() {
        Ok(m) => m,
        Err(e) => return clap_exit(e),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => return clap_exit(e),
    };
    let exit = match run(cli) {
        Ok(exit) => exit,
        Err(e) => {
            tracing::debug!(error = ?e, "command failed");
            match e.runbook() {
                Some(runbook) => eprintln!("poolshift: {e} {runbook}"),
                None => eprintln!("poolshift: {e}"),
            }
            e.exit()
        }
    };
    exit.into()
}

/// Help and version go to stdout with 0; usage errors to stderr with clap's code (2).
fn clap_exit(e: clap::Error) -> ExitCode {
    // Printing can only fail on a closed stdout/stderr, where nothing is left to tell.
    let _ = e.print();
    ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(Exit::Usage.code()))
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<Exit, CliError> {
    crate::logging::init(cli.global.log_format, cli.global.log_level.as_deref())?;
    match cli.command {
        #[cfg(feature = "sim")]
        Command::Demo(args) => runtime()?.block_on(demo::run(&args)),
        #[cfg(not(feature = "sim"))]
        Command::Demo(_) => Err(CliError::NotBuiltOption { option: "demo (needs the sim feature)" }),
        Command::Sim(sim) => match sim.command {
            args::SimCommand::Serve(args) => runtime()?.block_on(sim_serve::run(&args)),
        },
        Command::Plan(args) => runtime()?.block_on(plan::run(&args)),
        Command::Upgrade(args) => runtime()?.block_on(upgrade::run(&args)),
        Command::Status(args) => runtime()?.block_on(status::run(&args)),
        Command::Pause(args) => runtime()?.block_on(pause::run(&args)),
        Command::Resume(args) => runtime()?.block_on(resume::run(&args)),
        Command::Rollback(args) => runtime()?.block_on(rollback::run(&args)),
        Command::Abort(args) => runtime()?.block_on(abort::run(&args)),
        Command::Snapshot(args) => runtime()?.block_on(snapshot::run(&args)),
        Command::Completions(args) => completions::run(&args),
        Command::Man => man::run(),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(CliError::Runtime)
}

/// Writes a command's output to stdout in one piece.
fn write_stdout(bytes: &[u8]) -> Result<(), CliError> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(bytes).and_then(|()| out.flush()).map_err(CliError::Output)
}
