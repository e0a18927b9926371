//! The kubectl plugin entry point: `kubectl poolshift <command>` runs the same CLI as `poolshift <command>`.

fn main() -> std::process::ExitCode {
    poolshift::cli::main("kubectl poolshift")
}
