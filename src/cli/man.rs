//! `poolshift man`: the man page, in roff, on stdout (`poolshift man > poolshift.1`).

use clap::CommandFactory;

use super::args::Cli;
use super::error::CliError;
use crate::exit::Exit;

pub fn run() -> Result<Exit, CliError> {
    let mut buf: Vec<u8> = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut buf).map_err(CliError::Output)?;
    super::write_stdout(&buf)?;
    Ok(Exit::Done)
}
