//! Input a hostile (or careless) user gives, from issue 10: an editor that empties the
//! secrets, signals while the plaintext is out, an empty `--limit`, duplicate and merge keys,
//! special floats, secrets named like built-in variables, SSH recipients. Each case fails on
//! the code before the fix.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Fleet, SECRET, texts};

fn age_file(fleet: &Fleet) -> Vec<u8> {
    std::fs::read(fleet.path("secrets/secrets.yml.age")).expect("secrets file")
}

/// Exit code and stderr of `cmd`; asserts no secret value is in either output.
fn run(cmd: &mut Command) -> (Option<i32>, String) {
    let out = cmd.stdin(Stdio::null()).output().expect("run nxinfra");
    let (stdout, stderr) = texts(&out);
    assert!(
        !stdout.contains(SECRET) && !stderr.contains(SECRET),
        "{stdout}{stderr}"
    );
    (out.status.code(), stderr)
}

// ---- point 3: secrets edit -------------------------------------------------------------

#[test]
fn an_editor_that_empties_the_secrets_is_refused_unless_allow_empty() {
    let fleet = Fleet::new();
    let tmp = fleet.path("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let before = age_file(&fleet);
    for editor in [
        "sh -c ': > \"$0\"'",
        "sh -c 'printf \"# every secret gone\\n\\n\" > \"$0\"'",
        "sh -c 'printf \"{}\\n\" > \"$0\"'",
    ] {
        let mut cmd = fleet.command(&["secrets", "edit"]);
        cmd.env("EDITOR", editor).env("TMPDIR", &tmp);
        let (code, stderr) = run(&mut cmd);
        assert_eq!(code, Some(1), "{editor}: {stderr}");
        assert!(
            stderr.contains("hold no key") && stderr.contains("--allow-empty"),
            "{editor}: {stderr}"
        );
        assert_eq!(age_file(&fleet), before, "{editor}: the secrets changed");
    }
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);

    let mut cmd = fleet.command(&["secrets", "edit", "--allow-empty"]);
    cmd.env("EDITOR", "sh -c ': > \"$0\"'").env("TMPDIR", &tmp);
    let (code, stderr) = run(&mut cmd);
    assert_eq!(code, Some(0), "{stderr}");
    let view = fleet.nxinfra(&["secrets", "view"]);
    assert!(view.status.success());
    assert!(texts(&view).0.trim().is_empty(), "{}", texts(&view).0);
}

/// A fake editor: records the path it was given and that file's mode in `mark`, changes the
/// file (so a discarded edit shows), then sleeps until it is killed.
fn sleeping_editor(dir: &Path, mark: &Path) -> PathBuf {
    let script = dir.join("editor.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nprintf '%s %s\\n' \"$1\" \"$(stat -c %a \"$1\")\" > {mark}.tmp\n\
             mv {mark}.tmp {mark}\nprintf 'added: yes\\n' >> \"$1\"\n\
             exec sleep 30 </dev/null >/dev/null 2>&1\n",
            mark = mark.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

#[test]
fn a_signal_while_the_editor_runs_removes_the_plaintext_and_changes_nothing() {
    let shm_writable = tempfile::tempdir_in("/dev/shm").is_ok();
    for (signal, name, code) in [
        (libc::SIGINT, "SIGINT", 130),
        (libc::SIGHUP, "SIGHUP", 129),
        (libc::SIGTERM, "SIGTERM", 143),
    ] {
        let fleet = Fleet::new();
        let tmp = fleet.path("tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        let mark = fleet.path("editor-was-here");
        let editor = sleeping_editor(fleet.root(), &mark);
        let before = age_file(&fleet);
        let stderr_file = fleet.path("stderr.txt");
        let mut child = fleet
            .command(&["secrets", "edit"])
            .env("EDITOR", &editor)
            .env("TMPDIR", &tmp)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            // A file, not a pipe: the editor's orphans must not hold the test up.
            .stderr(std::fs::File::create(&stderr_file).unwrap())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while !mark.exists() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the editor never ran"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let seen = std::fs::read_to_string(&mark).unwrap();
        let (file, mode) = seen.trim().rsplit_once(' ').unwrap();
        let file = PathBuf::from(file);
        assert_eq!(mode, "600", "{name}: the plaintext must be private");
        if shm_writable {
            assert!(
                file.starts_with("/dev/shm/"),
                "{name}: the plaintext is not in memory-backed storage: {}",
                file.display()
            );
        }
        let dir = file.parent().unwrap().to_path_buf();
        assert!(
            dir.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("nxinfra-secrets-")
        );
        // SAFETY: signals our own child.
        unsafe {
            libc::kill(child.id() as libc::pid_t, signal);
        }
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() > Duration::from_secs(25) {
                let _ = child.kill();
                panic!("{name}: nxinfra did not end");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let stderr = std::fs::read_to_string(&stderr_file).unwrap();
        assert_eq!(status.code(), Some(code), "{name}: {stderr}");
        assert!(
            stderr.contains(&format!("interrupted by {name}")) && stderr.contains("unchanged"),
            "{name}: {stderr}"
        );
        assert!(!file.exists(), "{name}: {} is left", file.display());
        assert!(!dir.exists(), "{name}: {} is left", dir.display());
        assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0, "{name}");
        assert_eq!(
            age_file(&fleet),
            before,
            "{name}: the edit was not discarded"
        );
        assert!(!stderr.contains(SECRET));
    }
}

// ---- point 6: an empty --limit -----------------------------------------------------------

#[test]
fn an_empty_limit_is_an_error_for_every_command_that_takes_it() {
    let fleet = Fleet::new();
    let git = |args: &[&str]| {
        let ok = Command::new("git")
            .args(args)
            .current_dir(fleet.root())
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.net")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.net")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(ok, "git {args:?}");
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "fleet"]);
    let commands: &[&[&str]] = &[
        &["render"],
        &["sync", "--dry-run"],
        &["apply", "--dry-run"],
        &["plan"],
        &["diff", "--base", "HEAD"],
        &["wg", "--dry-run"],
        &["backup", "run"],
        &["backup", "list"],
        &["backup", "verify"],
        &["inventory", "list"],
    ];
    for command in commands {
        for empty in ["", " ", ",,,", " , "] {
            let mut args = command.to_vec();
            args.extend(["--limit", empty]);
            let (code, stderr) = run(&mut fleet.command(&args));
            assert_eq!(code, Some(1), "{args:?}: {stderr}");
            assert!(
                stderr.contains(&format!("--limit {empty:?} holds no host or group pattern")),
                "{args:?}: {stderr}"
            );
        }
    }
    assert!(!fleet.path("rendered").exists(), "render ran anyway");
}

// ---- point 7: duplicate keys and merge keys ------------------------------------------------

#[test]
fn duplicate_keys_in_the_inventory_and_the_secrets_name_both_lines() {
    let fleet = Fleet::new();
    // A second `ixp:` group used to drop the first one's hosts.
    fleet.write(
        "inventory/inventory.yml",
        &format!("{}ixp:\n  hosts:\n    ixp3:\n", common::INVENTORY),
    );
    let (code, stderr) = run(&mut fleet.command(&["render"]));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "inventory/inventory.yml:16: duplicate key \"ixp\" (first written at line 8)"
        ),
        "{stderr}"
    );
    assert!(!fleet.path("rendered").exists());

    let fleet = Fleet::new();
    fleet.write(
        "inventory/inventory.yml",
        &common::INVENTORY.replace(
            "      ansible_host: core1.example.net\n",
            "      ansible_host: core1.example.net\n      ansible_host: other.example.net\n",
        ),
    );
    let (code, stderr) = run(&mut fleet.command(&["render"]));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("inventory/inventory.yml:8")
            && stderr.contains("duplicate key \"ansible_host\" (first written at line 7)"),
        "{stderr}"
    );

    let fleet = Fleet::new();
    fleet.set_secrets(&format!("{}db:\n  other: {SECRET}x\n", common::SECRETS));
    let (code, stderr) = run(&mut fleet.command(&["render"]));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("secrets/secrets.yml.age:4")
            && stderr.contains("duplicate key \"db\" (first written at line 1)"),
        "{stderr}"
    );
}

#[test]
fn merge_keys_are_merged_in_the_inventory_and_the_secrets() {
    let fleet = Fleet::new();
    fleet.write(
        "inventory/inventory.yml",
        &common::INVENTORY
            .replace(
                "    ixp1:\n      tailnet: 100.64.0.1\n",
                "    ixp1: &ixp_defaults\n      tailnet: 100.64.0.1\n      asn: 64512\n",
            )
            .replace(
                "    ixp2:\n      tailnet: 100.64.0.2\n",
                "    ixp2:\n      <<: *ixp_defaults\n      tailnet: 100.64.0.2\n",
            ),
    );
    fleet.set_secrets(&format!(
        "base: &base\n  user: app\n  password: {SECRET}\ndb:\n  <<: *base\n  user: merged\n"
    ));
    let (code, stderr) = run(&mut fleet.command(&["render"]));
    assert_eq!(code, Some(0), "{stderr}");
    // ixp2 took the anchor's asn and kept its own tailnet.
    let bird = fleet.read("rendered/ixp2/bird/bird.conf");
    assert!(bird.contains("router id 100.64.0.2;"), "{bird}");
    let out = fleet.nxinfra(&["inventory", "show", "ixp2"]);
    let (stdout, stderr) = texts(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("64512"), "{stdout}");
    assert!(!stdout.contains("<<"), "{stdout}");
    // The secrets' merge: `db.user` is the explicit key, `db.password` the merged one.
    let app = fleet.read("rendered/core1/app/app.conf");
    assert!(app.contains("user=merged"), "{app}");
    assert!(app.contains(&format!("password={SECRET}")), "{app}");
}

// ---- point 12: the small ones ----------------------------------------------------------------

#[test]
fn a_secrets_key_named_like_a_built_in_variable_is_an_error() {
    for key in [
        "inventory_hostname",
        "group_names",
        "groups",
        "hostvars",
        "secrets",
    ] {
        let fleet = Fleet::new();
        fleet.set_secrets(&format!("{}{key}: {SECRET}\n", common::SECRETS));
        let (code, stderr) = run(&mut fleet.command(&["render"]));
        assert_eq!(code, Some(1), "{key}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "secrets/secrets.yml.age:4: top-level key {key} has the name"
            )),
            "{key}: {stderr}"
        );
    }
}

#[test]
fn special_floats_are_refused_not_turned_into_none() {
    let fleet = Fleet::new();
    fleet.write(
        "inventory/inventory.yml",
        &common::INVENTORY.replace("    role: ixp\n", "    role: ixp\n    ratio: .nan\n"),
    );
    let (code, stderr) = run(&mut fleet.command(&["render"]));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("inventory/inventory.yml:16") && stderr.contains(".nan, .inf, -.inf"),
        "{stderr}"
    );

    let fleet = Fleet::new();
    fleet.set_secrets(&format!("{}limit: -.inf\n", common::SECRETS));
    let (code, stderr) = run(&mut fleet.command(&["render"]));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("secrets/secrets.yml.age:4") && stderr.contains("('.inf')"),
        "{stderr}"
    );
}

#[test]
fn recipients_agree_with_the_docs_and_an_ssh_key_is_named() {
    let fleet = Fleet::new();
    let before = age_file(&fleet);
    let recipients = fleet.read("secrets/recipients.txt");
    fleet.write(
        "secrets/recipients.txt",
        &format!(
            "{recipients}# bob\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl bob@laptop\n"
        ),
    );
    let (code, stderr) = run(&mut fleet.command(&["secrets", "rekey"]));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("secrets/recipients.txt:4: an SSH public key (ssh-ed25519)"),
        "{stderr}"
    );
    assert!(!stderr.contains("text after the key"), "{stderr}");

    // A comment after the key: refused as `age -R` does, and the message says what to do.
    let key = recipients.lines().nth(1).unwrap();
    fleet.write(
        "secrets/recipients.txt",
        &format!("# test\n{key} # test key\n"),
    );
    let (code, stderr) = run(&mut fleet.command(&["secrets", "rekey"]));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("secrets/recipients.txt:2: text after the key")
            && stderr.contains("`# comment` line above it"),
        "{stderr}"
    );
    assert_eq!(age_file(&fleet), before);
    // What docs/secrets.md says a line may hold is what the parser accepts.
    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/secrets.md")).unwrap();
    assert!(
        docs.contains("one `age1…` key alone on each line"),
        "docs/secrets.md no longer describes recipients.txt as the parser reads it"
    );
}

#[test]
fn secrets_errors_keep_their_own_hints() {
    let fleet = Fleet::new();
    fleet.set_secrets("db:\n  password: !vault |\n    $ANSIBLE_VAULT;1.1;AES256\n    6231\n");
    let (code, stderr) = run(&mut fleet.command(&["render"]));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(!stderr.contains('…'), "{stderr}");
    assert!(
        stderr.contains("secrets/secrets.yml.age:2")
            && stderr.contains("`!vault`")
            && stderr.contains("`nxinfra secrets set PATH`"),
        "{stderr}"
    );
}

/// A YAML alias bomb: nine levels of ten aliases each, 10^9 strings if expanded.
fn alias_bomb(indent: &str) -> String {
    let mut lines = vec![format!("{indent}a0: &a0 [x, x, x, x, x, x, x, x, x, x]")];
    for i in 1..9 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        lines.push(format!("{indent}a{i}: &a{i} [{refs}]"));
    }
    lines.join("\n") + "\n"
}

#[test]
fn a_yaml_alias_bomb_is_refused_in_the_inventory_the_secrets_and_vars_files() {
    let expanded = "expand to far more than the document holds";
    let fleet = Fleet::new();
    fleet.write(
        "inventory/inventory.yml",
        &common::INVENTORY.replacen(
            "all:\n  vars:\n",
            &format!("all:\n  vars:\n{}", alias_bomb("    ")),
            1,
        ),
    );
    let (code, stderr) = run(&mut fleet.command(&["render"]));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("inventory/inventory.yml") && stderr.contains(expanded),
        "{stderr}"
    );

    let fleet = Fleet::new();
    fleet.write("inventory/group_vars/ixp.yml", &alias_bomb(""));
    let (code, stderr) = run(&mut fleet.command(&["render"]));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("inventory/group_vars/ixp.yml") && stderr.contains(expanded),
        "{stderr}"
    );

    let fleet = Fleet::new();
    fleet.set_secrets(&format!("{}{}", common::SECRETS, alias_bomb("")));
    let (code, stderr) = run(&mut fleet.command(&["render"]));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("secrets/secrets.yml.age") && stderr.contains("alias bomb"),
        "{stderr}"
    );
    assert!(!fleet.path("rendered").exists());
}
