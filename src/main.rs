//! The `rbac` command: parses arguments and hands over to `cli`, which does all I/O.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
