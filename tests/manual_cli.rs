//! `nxinfra completions` and `nxinfra man`: made from the same clap definition as `--help`,
//! anywhere (no repository needed). The bash script loads in a real bash and completes; the
//! manual pages are well-formed for a real groff (UTF-8 through its preconv, as man reads
//! them), one per command.

mod common;

use std::process::Command;

fn nxinfra(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(common::bin())
        .current_dir(dir)
        .env_remove("NXINFRA_ROOT")
        .args(args)
        .output()
        .expect("run nxinfra")
}

#[test]
fn the_bash_completion_loads_and_completes_commands_and_options() {
    let dir = tempfile::tempdir().unwrap();
    let out = nxinfra(dir.path(), &["completions", "bash"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let script = dir.path().join("nxinfra.bash");
    std::fs::write(&script, &out.stdout).unwrap();
    let check = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    // Sourced: registered for nxinfra, and it completes a command and a command's option.
    let complete = |words: &str| {
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "source '{}' && complete -p nxinfra && COMP_WORDS=({words}) && \
                 COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 )) && _nxinfra nxinfra \
                 \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\" && \
                 echo \"${{COMPREPLY[*]}}\"",
                script.display()
            ))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let top = complete("nxinfra ba");
    assert!(
        top.contains("complete -o bashdefault -o default -o nosort -F _nxinfra nxinfra"),
        "{top}"
    );
    assert!(
        top.lines()
            .last()
            .unwrap()
            .split(' ')
            .any(|w| w == "backup"),
        "{top}"
    );
    let sub = complete("nxinfra backup st");
    assert!(
        sub.lines()
            .last()
            .unwrap()
            .split(' ')
            .any(|w| w == "status"),
        "{sub}"
    );
    let opt = complete("nxinfra backup restore --fr");
    assert!(
        opt.lines()
            .last()
            .unwrap()
            .split(' ')
            .any(|w| w == "--from"),
        "{opt}"
    );

    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let out = nxinfra(dir.path(), &["completions", shell]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("backup") && text.contains("drill"),
            "{shell}"
        );
    }
    let out = nxinfra(dir.path(), &["completions", "tcsh"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "an unknown shell is a usage error"
    );
}

#[test]
fn the_manual_has_a_well_formed_page_per_command() {
    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("man");
    let out = nxinfra(dir.path(), &["man", pages.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for page in [
        "nxinfra.1",
        "nxinfra-render.1",
        "nxinfra-apply.1",
        "nxinfra-backup.1",
        "nxinfra-backup-drill.1",
        "nxinfra-secrets-edit.1",
        "nxinfra-completions.1",
    ] {
        let path = pages.join(page);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(
            text.starts_with(".ie") || text.contains(".TH"),
            "{page}: {text:.200}"
        );
        assert!(text.contains(".SH NAME"), "{page}");
    }
    let run = std::fs::read_to_string(pages.join("nxinfra-backup-run.1")).unwrap();
    assert!(
        run.contains("every destination"),
        "the long help is the page's description"
    );
    if common::require_tool("groff", "groff-base") {
        for entry in std::fs::read_dir(&pages).unwrap() {
            let path = entry.unwrap().path();
            let out = Command::new("groff")
                .args(["-k", "-man", "-Tutf8", "-ww", "-z"])
                .arg(&path)
                .output()
                .unwrap();
            assert!(
                out.status.success() && out.stderr.is_empty(),
                "{}: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}
