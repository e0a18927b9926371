//! The `poolshift` binary: everything lives in the library, this only maps the outcome to the exit code.

fn main() -> std::process::ExitCode {
    poolshift::cli::main("poolshift")
}
