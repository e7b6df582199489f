//! `nxinfra secrets …` end to end through the binary, and interoperability with the `age` tool.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use common::{Fleet, SECRET, texts};

const VAULT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/vault");

fn ok(out: &std::process::Output) -> String {
    let (stdout, stderr) = texts(out);
    assert!(out.status.success(), "failed: {stderr}");
    stdout
}

#[test]
fn init_creates_identity_recipients_and_an_empty_secrets_file() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = Fleet::new();
    let root = dir.path();
    std::fs::create_dir_all(root.join("inventory")).unwrap();
    std::fs::write(root.join("inventory/inventory.yml"), common::INVENTORY).unwrap();
    let id = root.join("keys/me.txt");
    let run = |args: &[&str]| {
        let mut cmd = fleet.command(args);
        cmd.current_dir(root).env_remove("NXINFRA_AGE_KEY_FILE");
        cmd.output().unwrap()
    };
    ok(&run(&[
        "secrets",
        "init",
        "--identity",
        id.to_str().unwrap(),
    ]));
    let mode = std::fs::metadata(&id).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "identity must be private");
    let identity = std::fs::read_to_string(&id).unwrap();
    let public = nxinfra::secrets::age_file::public_keys_of(&identity).remove(0);
    let recipients = std::fs::read_to_string(root.join("secrets/recipients.txt")).unwrap();
    assert!(recipients.lines().any(|l| l == public), "{recipients}");
    assert!(root.join("secrets/secrets.yml.age").exists());
    // Running it again never replaces the identity nor duplicates the recipient.
    ok(&run(&[
        "secrets",
        "init",
        "--identity",
        id.to_str().unwrap(),
    ]));
    assert_eq!(std::fs::read_to_string(&id).unwrap(), identity);
    assert_eq!(
        std::fs::read_to_string(root.join("secrets/recipients.txt")).unwrap(),
        recipients
    );
    // The default place is the config dir (HOME is the fleet's home in tests).
    let mut cmd = fleet.command(&["secrets", "init"]);
    cmd.current_dir(root).env_remove("NXINFRA_AGE_KEY_FILE");
    ok(&cmd.output().unwrap());
    assert!(
        fleet
            .root()
            .join("home/.config/nxinfra/identity.txt")
            .exists()
    );
    // The empty secrets file decrypts and a fleet with it renders.
    let out = run(&["--identity", id.to_str().unwrap(), "secrets", "view"]);
    assert!(ok(&out).contains("{}"));
}

#[test]
fn set_from_stdin_and_argument_then_view() {
    let fleet = Fleet::new();
    let out = common::run_with_stdin(
        fleet.command(&["secrets", "set", "dns.cloudflare.token"]),
        b"tok-from-stdin\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ok(&fleet.nxinfra(&["secrets", "set", "db.user", "app2"]));
    let view = ok(&fleet.nxinfra(&["secrets", "view"]));
    let doc: serde_json::Value = serde_norway::from_str(&view).unwrap();
    assert_eq!(doc["dns"]["cloudflare"]["token"], "tok-from-stdin");
    assert_eq!(doc["db"]["user"], "app2");
    assert_eq!(doc["db"]["password"], SECRET, "other values are kept");
    // A value cannot become a mapping, and a mapping cannot be overwritten by a value.
    let out = fleet.nxinfra(&["secrets", "set", "db.user.name", "x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(texts(&out).1.contains("db.user is a value"));
    let out = fleet.nxinfra(&["secrets", "set", "db", "x"]);
    assert_eq!(out.status.code(), Some(1));
    // set never echoes the value.
    let (stdout, stderr) =
        texts(&fleet.nxinfra(&["secrets", "set", "db.password", "n3w-Passw0rd-xyz"]));
    assert!(!stdout.contains("n3w-Passw0rd-xyz") && !stderr.contains("n3w-Passw0rd-xyz"));
    // Every write keeps the key index (for nxinfra diff without an identity): paths, no value.
    let keys = fleet.read("secrets.keys.yml");
    assert!(
        keys.contains("token: <secret:dns.cloudflare.token>")
            && keys.contains("password: <secret:db.password>"),
        "{keys}"
    );
    for value in ["tok-from-stdin", "app2", "n3w-Passw0rd-xyz", SECRET] {
        assert!(!keys.contains(value), "{keys}");
    }
}

#[test]
fn edit_reencrypts_valid_yaml_and_keeps_everything_on_invalid_yaml() {
    let fleet = Fleet::new();
    let tmp = fleet.path("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let before = std::fs::read(fleet.path("secrets/secrets.yml.age")).unwrap();

    // An "editor" that appends a key.
    let mut cmd = fleet.command(&["secrets", "edit"]);
    cmd.env("EDITOR", "sh -c 'printf \"added: yes\\n\" >> \"$0\"'")
        .env("TMPDIR", &tmp);
    ok(&cmd.output().unwrap());
    let after = std::fs::read(fleet.path("secrets/secrets.yml.age")).unwrap();
    assert_ne!(after, before);
    let view = ok(&fleet.nxinfra(&["secrets", "view"]));
    assert!(
        view.contains("added: yes") && view.contains(SECRET),
        "{view}"
    );

    // An editor that breaks the YAML: nothing changes, the error names the line.
    let mut cmd = fleet.command(&["secrets", "edit"]);
    cmd.env("EDITOR", "sh -c 'printf \"broken: [\\n\" >> \"$0\"'")
        .env("TMPDIR", &tmp)
        .stdin(Stdio::null());
    let out = cmd.output().unwrap();
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("unchanged") && stderr.contains("(edited):"),
        "{stderr}"
    );
    assert!(!stderr.contains(SECRET));
    assert_eq!(
        std::fs::read(fleet.path("secrets/secrets.yml.age")).unwrap(),
        after
    );
    // No plaintext is left behind in the temporary folder.
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);

    // A failing editor changes nothing either.
    let mut cmd = fleet.command(&["secrets", "edit"]);
    cmd.env("EDITOR", "false").env("TMPDIR", &tmp);
    assert_eq!(cmd.output().unwrap().status.code(), Some(1));
    assert_eq!(
        std::fs::read(fleet.path("secrets/secrets.yml.age")).unwrap(),
        after
    );
}

#[test]
fn rekey_follows_recipients_txt() {
    let fleet = Fleet::new();
    let (second, second_public) = nxinfra::secrets::age_file::generate_identity();
    fleet.write("second.key", &second);
    let recipients = fleet.read("secrets/recipients.txt");
    fleet.write(
        "secrets/recipients.txt",
        &format!("{recipients}# second\n{second_public}\n"),
    );
    // Before rekey the second key cannot read the file.
    let as_second = |args: &[&str]| {
        let mut cmd = fleet.command(args);
        cmd.env("NXINFRA_AGE_KEY_FILE", fleet.path("second.key"));
        cmd.output().unwrap()
    };
    assert_eq!(as_second(&["secrets", "view"]).status.code(), Some(1));
    ok(&fleet.nxinfra(&["secrets", "rekey"]));
    assert!(ok(&as_second(&["secrets", "view"])).contains(SECRET));
    // Drop the first recipient, rekey with the second: the first key is locked out.
    fleet.write(
        "secrets/recipients.txt",
        &format!("# second\n{second_public}\n"),
    );
    ok(&as_second(&["secrets", "rekey"]));
    let out = fleet.nxinfra(&["secrets", "view"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(texts(&out).1.contains("wrong identity"));
}

#[test]
fn vault_files_render_directly_and_import_to_age() {
    let fleet = Fleet::new();
    let password = format!("{VAULT}/password.txt");
    let expected = std::fs::read_to_string(format!("{VAULT}/simple.yml")).unwrap();
    for fixture in ["simple-1.1.yml.vault", "crlf-1.1.yml.vault"] {
        std::fs::remove_file(fleet.path("secrets/secrets.yml.age")).ok();
        let data = std::fs::read(format!("{VAULT}/{fixture}")).unwrap();
        fleet.write_bytes("secrets/secrets.yml", &data);
        let view = ok(&fleet.nxinfra(&["--vault-password-file", &password, "secrets", "view"]));
        assert_eq!(view, expected, "{fixture}");
        ok(&fleet.nxinfra(&[
            "--vault-password-file",
            &password,
            "inventory",
            "show",
            "core1",
        ]));
        // import-vault converts it; the age file then gives the same plaintext.
        ok(&fleet.nxinfra(&[
            "--vault-password-file",
            &password,
            "secrets",
            "import-vault",
            &format!("{VAULT}/{fixture}"),
        ]));
        std::fs::remove_file(fleet.path("secrets/secrets.yml")).unwrap();
        assert_eq!(ok(&fleet.nxinfra(&["secrets", "view"])), expected);
    }
    // A 1.2 file with a vault id imports too; an existing age file needs --force.
    let vid = format!("{VAULT}/vaultid-1.2.yml.vault");
    let out = fleet.nxinfra(&[
        "--vault-password-file",
        &password,
        "secrets",
        "import-vault",
        &vid,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(texts(&out).1.contains("--force"));
    ok(&fleet.nxinfra(&[
        "--vault-password-file",
        &password,
        "secrets",
        "import-vault",
        &vid,
        "--force",
    ]));
    let expected = std::fs::read_to_string(format!("{VAULT}/vaultid.yml")).unwrap();
    assert_eq!(ok(&fleet.nxinfra(&["secrets", "view"])), expected);
}

#[test]
fn interoperates_with_the_age_tool_both_ways() {
    if !common::require_tool("age", "age") {
        return;
    }
    let fleet = Fleet::new();
    // nxinfra → age
    let out = Command::new("age")
        .args(["-d", "-i"])
        .arg(&fleet.identity)
        .arg(fleet.path("secrets/secrets.yml.age"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), common::SECRETS);
    // age → nxinfra (armored and binary)
    let public =
        nxinfra::secrets::age_file::public_keys_of(&fleet.read("test-identity.key")).remove(0);
    for armor in [true, false] {
        let mut cmd = Command::new("age");
        cmd.args(["-r", &public]);
        if armor {
            cmd.arg("-a");
        }
        cmd.arg("-o").arg(fleet.path("secrets/secrets.yml.age"));
        assert!(
            common::run_with_stdin(cmd, b"from_age: works\n")
                .status
                .success()
        );
        assert_eq!(
            ok(&fleet.nxinfra(&["secrets", "view"])),
            "from_age: works\n",
            "armor={armor}"
        );
    }
}
