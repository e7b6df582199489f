use std::process::ExitCode;

fn main() -> ExitCode {
    nxinfra::cli::main()
}
