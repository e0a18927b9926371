//! `poolshift completions SHELL`: a completion script on stdout.

use clap::CommandFactory;

use super::args::{Cli, CompletionsArgs};
use super::error::CliError;
use crate::exit::Exit;

pub fn run(args: &CompletionsArgs) -> Result<Exit, CliError> {
    let mut cmd = Cli::command();
    let mut buf: Vec<u8> = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "poolshift", &mut buf);
    super::write_stdout(&buf)?;
    Ok(Exit::Done)
}
