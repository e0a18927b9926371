//! The `poolshift` binary: everything lives in the library, this only maps the outcome to the exit code.

/// See Cargo.toml for why.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    poolshift::cli::main("poolshift")
}
