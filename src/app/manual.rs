//! `nxinfra completions SHELL` and `nxinfra man DIR`: the command line described for shells
//! (clap_complete) and for `man` (clap_mangen), from the same clap definition as `--help`, so
//! they cannot fall behind it. Neither needs a repository.

use std::path::Path;
use std::process::ExitCode;

use clap::CommandFactory;

use crate::cli::Cli;

/// Prints the completion script of `shell` on stdout.
pub fn completions(shell: clap_complete::Shell) -> ExitCode {
    use std::io::Write;
    let mut cmd = Cli::command();
    // Into memory first: clap_complete panics when its writer fails (a closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "nxinfra", &mut script);
    match std::io::stdout().write_all(&script) {
        // `| head`: whoever reads has what they wanted.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            eprintln!("error: cannot print the completion script: {e}");
            ExitCode::from(1)
        }
        _ => ExitCode::SUCCESS,
    }
}

/// Writes `nxinfra.1` and one page per command and subcommand (`nxinfra-backup-run.1`) into
/// `dir`, made if missing.
pub fn man(dir: &Path) -> ExitCode {
    let written = std::fs::create_dir_all(dir).and_then(|()| {
        clap_mangen::generate_to(Cli::command(), dir)?;
        Ok(std::fs::read_dir(dir)?
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".1"))
            .count())
    });
    match written {
        Ok(n) => {
            println!(
                "{n} manual pages in {} (man -l {}/nxinfra.1)",
                dir.display(),
                dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "error: cannot write the manual pages into {}: {e}",
                dir.display()
            );
            ExitCode::from(1)
        }
    }
}
