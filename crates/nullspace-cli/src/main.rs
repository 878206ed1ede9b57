//! The `nullspace` binary; everything happens in [`nullspace_cli::run`].

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(nullspace_cli::run(std::env::args_os()))
}
