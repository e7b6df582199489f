use std::process::ExitCode;

fn main() -> ExitCode {
    nxinfra::app::main()
}
