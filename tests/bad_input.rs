//! Bad input, table-driven: every case exits 1 with a clear error naming the file, line, host
//! and variable where they apply, never panics, never prints a secret, and leaves `rendered/`
//! exactly as it was (no staging leftovers either).

mod common;

use common::{Fleet, SECRET, leftovers, snapshot, texts};

const VAULT_FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/vault");

struct Case {
    name: &'static str,
    setup: fn(&Fleet),
    args: &'static [&'static str],
    /// Fragments the error must contain (file:line, host, variable, reason).
    expect: &'static [&'static str],
}

fn vault_fixture(fleet: &Fleet, file: &str) {
    let data = std::fs::read(format!("{VAULT_FIXTURES}/{file}")).expect("fixture");
    std::fs::remove_file(fleet.path("secrets/secrets.yml.age")).expect("rm age");
    fleet.write_bytes("secrets/secrets.yml", &data);
}

const CASES: &[Case] = &[
    Case {
        name: "malformed inventory YAML",
        setup: |f| {
            f.write(
                "inventory/inventory.yml",
                "core:\n  hosts:\n    core1: [unclosed\n",
            )
        },
        args: &["render"],
        expect: &["inventory/inventory.yml:"],
    },
    Case {
        name: "unknown key in a group",
        setup: |f| f.write("inventory/inventory.yml", "core:\n  hostss:\n    core1:\n"),
        args: &["render"],
        expect: &["inventory/inventory.yml:2", "unknown field `hostss`"],
    },
    Case {
        name: "misspelt nxinfra variable",
        setup: |f| {
            f.write(
                "inventory/inventory.yml",
                &common::INVENTORY.replace(
                    "      ansible_host: core1.example.net\n",
                    "      ansible_host: core1.example.net\n      nxinfra_basedir: /srv\n",
                ),
            )
        },
        args: &["render"],
        expect: &[
            "inventory/inventory.yml:8",
            "unknown nxinfra variable nxinfra_basedir (did you mean nxinfra_base_dir?)",
        ],
    },
    Case {
        name: "a hold without a reason",
        setup: |f| {
            f.write(
                "inventory/inventory.yml",
                &common::INVENTORY.replace(
                    "      ansible_host: core1.example.net\n",
                    "      ansible_host: core1.example.net\n      nxinfra_hold: {until: \"2026-12-15\"}\n",
                ),
            )
        },
        args: &["apply"],
        expect: &["host core1", "nxinfra_hold", "reason is required"],
    },
    Case {
        name: "a backup to an unknown kind of destination",
        setup: |f| {
            f.write(
                "inventory/inventory.yml",
                &common::INVENTORY.replace(
                    "      ansible_host: core1.example.net\n",
                    "      ansible_host: core1.example.net\n      nxinfra_backups:\n        - name: db\n          command: cat /etc/hostname\n          to: [ftp]\n",
                ),
            )
        },
        args: &["backup", "run"],
        expect: &[
            "inventory/inventory.yml:8",
            "host core1",
            "nxinfra_backups",
            "entry 1 (db): to: destination 1: unknown kind (expected `local`, `host: NAME` or `s3: BUCKET`), got \"ftp\"",
        ],
    },
    Case {
        name: "a backup to a host that is not in the inventory",
        setup: |f| {
            f.write(
                "inventory/inventory.yml",
                &common::INVENTORY.replace(
                    "      ansible_host: core1.example.net\n",
                    "      ansible_host: core1.example.net\n      nxinfra_backups:\n        - name: db\n          command: cat /etc/hostname\n          to: [local, {host: backup9}]\n",
                ),
            )
        },
        args: &["backup", "run"],
        expect: &[
            "inventory/inventory.yml:8",
            "host core1",
            "backup db: destination backup9: \"backup9\" is not a host of the inventory",
        ],
    },
    Case {
        name: "a backup to a bucket whose key is not in the secrets",
        setup: |f| {
            f.write(
                "inventory/inventory.yml",
                &common::INVENTORY.replace(
                    "      ansible_host: core1.example.net\n",
                    "      ansible_host: core1.example.net\n      nxinfra_backups:\n        - name: db\n          command: cat /etc/hostname\n          to: [{s3: nxthdr-backups, access_key: s3.id, secret_key: s3.key}]\n",
                ),
            )
        },
        args: &["backup", "run"],
        expect: &[
            "inventory/inventory.yml:8",
            "host core1",
            "backup db: destination s3: the secrets have no \"s3.id\"",
        ],
    },
    Case {
        name: "a backup with a bad max_age",
        setup: |f| {
            f.write(
                "inventory/inventory.yml",
                &common::INVENTORY.replace(
                    "      ansible_host: core1.example.net\n",
                    "      ansible_host: core1.example.net\n      nxinfra_backups:\n        - name: db\n          command: cat /etc/hostname\n          max_age: 26 hours ago\n",
                ),
            )
        },
        args: &["backup", "run"],
        expect: &[
            "inventory/inventory.yml:8",
            "host core1",
            "nxinfra_backups: entry 1 (db): max_age: \"26 hours ago\" is not a duration",
        ],
    },
    Case {
        name: "host in two groups with conflicting vars",
        setup: |f| {
            let inv = format!(
                "{}ams:\n  vars:\n    role: core\n  hosts:\n    ixp1:\n",
                common::INVENTORY
            );
            f.write("inventory/inventory.yml", &inv)
        },
        args: &["render"],
        expect: &[
            "inventory/inventory.yml:",
            "host ixp1",
            "variable role",
            "ams and ixp",
        ],
    },
    Case {
        name: "unknown group in children",
        setup: |f| {
            let inv = format!("{}edge:\n  children:\n    ipx:\n", common::INVENTORY);
            f.write("inventory/inventory.yml", &inv)
        },
        args: &["render"],
        expect: &["inventory/inventory.yml:18", "unknown group \"ipx\""],
    },
    Case {
        name: "groups in a cycle",
        setup: |f| {
            let inv = format!(
                "{}a:\n  children:\n    b:\n      children:\n        a:\n",
                common::INVENTORY
            );
            f.write("inventory/inventory.yml", &inv)
        },
        args: &["render"],
        expect: &["inventory/inventory.yml", "cycle"],
    },
    Case {
        name: "inline !vault value in the inventory",
        setup: |f| {
            f.write(
                "inventory/inventory.yml",
                "core:\n  hosts:\n    core1:\n      pw: !vault |\n        $ANSIBLE_VAULT;1.1;AES256\n        6231\n",
            )
        },
        args: &["render"],
        expect: &[
            "inventory/inventory.yml:4",
            "core.hosts.core1.pw",
            "`!vault`",
            "nxinfra secrets set",
        ],
    },
    Case {
        name: "empty inventory",
        setup: |f| f.write("inventory/inventory.yml", "# nothing yet\n"),
        args: &["render"],
        expect: &["inventory/inventory.yml", "defines no hosts"],
    },
    Case {
        name: "host name escaping rendered/",
        setup: |f| {
            f.write(
                "inventory/inventory.yml",
                "core:\n  hosts:\n    '../evil':\n",
            )
        },
        args: &["render"],
        expect: &["inventory/inventory.yml:3", "invalid host name \"../evil\""],
    },
    Case {
        name: "--limit matching nothing",
        setup: |_| {},
        args: &["render", "--limit", "ixp1,nosuchhost*"],
        expect: &["\"nosuchhost*\" matches no host or group", "core1"],
    },
    Case {
        name: "undefined variable",
        setup: |f| {
            f.write(
                "templates/config/ixp/x.conf.j2",
                "a\nb {{ tailnet }} {{ routerid }}\n",
            )
        },
        args: &["render"],
        expect: &[
            "templates/config/ixp/x.conf.j2:2",
            "host ixp1",
            "undefined variable `routerid`",
        ],
    },
    Case {
        name: "undefined secret path",
        setup: |f| {
            f.write(
                "templates/config/core/core1/s.j2",
                "{{ secrets.db.passwrd }}\n",
            )
        },
        args: &["render"],
        expect: &[
            "templates/config/core/core1/s.j2:1",
            "host core1",
            "`secrets.db.passwrd`",
        ],
    },
    Case {
        name: "undefined variable inside a partial",
        setup: |f| {
            f.write(
                "templates/partials/bird.j2",
                "{% macro proto(name) %}\n{{ nme }}\n{% endmacro %}\n",
            )
        },
        args: &["render"],
        expect: &[
            "templates/partials/bird.j2:2",
            "host ixp1",
            "`nme`",
            "included from templates/config/ixp/bird/bird.conf.j2",
        ],
    },
    Case {
        name: "template syntax error",
        setup: |f| {
            f.write(
                "templates/config/ixp/x.j2",
                "ok\n{% for p in peers %}\n{{ p }}\n",
            )
        },
        args: &["render"],
        expect: &["templates/config/ixp/x.j2:", "syntax error"],
    },
    Case {
        name: "include of a missing partial",
        setup: |f| {
            f.write(
                "templates/config/ixp/x.j2",
                "{% include 'partials/nope.j2' %}\n",
            )
        },
        args: &["render"],
        expect: &["templates/config/ixp/x.j2:1", "partials/nope.j2"],
    },
    Case {
        name: "include escaping templates/ with ..",
        setup: |f| {
            f.write(
                "templates/config/ixp/x.j2",
                "{% include '../../inventory/inventory.yml' %}\n",
            )
        },
        args: &["render"],
        expect: &["templates/config/ixp/x.j2:1", "leaves templates/"],
    },
    Case {
        name: "non-UTF-8 template",
        setup: |f| {
            f.write_bytes(
                "templates/config/ixp/latin1.conf.j2",
                b"caf\xe9 {{ role }}\n",
            )
        },
        args: &["render"],
        expect: &["templates/config/ixp/latin1.conf.j2", "not UTF-8"],
    },
    Case {
        name: "unknown filter",
        setup: |f| f.write("templates/config/ixp/x.j2", "{{ role | frobnicate }}\n"),
        args: &["render"],
        expect: &["templates/config/ixp/x.j2:1", "frobnicate"],
    },
    Case {
        name: "error message that would quote a secret",
        setup: |f| {
            f.write(
                "templates/config/core/core1/x.j2",
                "{% include secrets.db.password %}\n",
            )
        },
        args: &["render"],
        expect: &["templates/config/core/core1/x.j2:1", "<secret:db.password>"],
    },
    Case {
        name: "templates folder named after no group",
        setup: |f| f.write("templates/config/ipx/x.j2", "x\n"),
        args: &["render"],
        expect: &["templates/config/ipx", "not named after a group"],
    },
    Case {
        name: "host folder in the wrong group",
        setup: |f| f.write("templates/config/ixp/core1/x.j2", "x\n"),
        args: &["render"],
        expect: &["templates/config/ixp/core1", "not in group ixp"],
    },
    Case {
        name: "symlink in templates",
        setup: |f| {
            std::os::unix::fs::symlink("/etc/passwd", f.path("templates/config/ixp/passwd"))
                .expect("symlink")
        },
        args: &["render"],
        expect: &["templates/config/ixp/passwd", "symlinks are not followed"],
    },
    Case {
        name: "secret key shadowing an inventory variable",
        setup: |f| f.set_secrets("role: secret-role\ndb:\n  password: hunter2-Secret-Value\n"),
        args: &["render"],
        expect: &["role is both an inventory variable and a top-level secrets key"],
    },
    Case {
        name: "wrong age identity",
        setup: |f| {
            let (other, _) = nxinfra::secrets::age_file::generate_identity();
            f.write("test-identity.key", &other)
        },
        args: &["render"],
        expect: &["secrets/secrets.yml.age", "wrong identity"],
    },
    Case {
        name: "corrupt age file",
        setup: |f| {
            let mut text = f.read("secrets/secrets.yml.age");
            let mid = text.len() / 2;
            text.replace_range(mid..mid + 4, "AAAA");
            f.write("secrets/secrets.yml.age", &text)
        },
        args: &["render"],
        expect: &["secrets/secrets.yml.age", "not a valid age file"],
    },
    Case {
        name: "age file that is not age at all",
        setup: |f| f.write("secrets/secrets.yml.age", "db: plaintext by mistake\n"),
        args: &["render"],
        expect: &["secrets/secrets.yml.age", "not a valid age file"],
    },
    Case {
        name: "decrypted secrets are not valid YAML",
        setup: |f| f.set_secrets("db:\n  password: \"hunter2-Secret-Value\n  user: [\n"),
        args: &["render"],
        expect: &["secrets/secrets.yml.age:", "not valid"],
    },
    Case {
        name: "missing identity",
        setup: |f| std::fs::remove_file(f.path("test-identity.key")).expect("rm"),
        args: &["render"],
        expect: &["test-identity.key", "cannot read identity file"],
    },
    Case {
        name: "tampered vault",
        setup: |f| vault_fixture(f, "tampered-hmac-1.1.yml.vault"),
        args: &[
            "render",
            "--vault-password-file",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/vault/password.txt"
            ),
        ],
        expect: &["secrets/secrets.yml", "HMAC"],
    },
    Case {
        name: "wrong vault password",
        setup: |f| vault_fixture(f, "simple-1.1.yml.vault"),
        args: &[
            "render",
            "--vault-password-file",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/vault/wrong-password.txt"
            ),
        ],
        expect: &["secrets/secrets.yml", "wrong vault password"],
    },
    Case {
        name: "vault without a password file",
        setup: |f| vault_fixture(f, "simple-1.1.yml.vault"),
        args: &["render"],
        expect: &["secrets/secrets.yml", "--vault-password-file"],
    },
    Case {
        name: "both an age and a vault secrets file",
        setup: |f| f.write("secrets/secrets.yml", "$ANSIBLE_VAULT;1.1;AES256\n00\n"),
        args: &["render"],
        expect: &["secrets/secrets.yml", "both"],
    },
];

#[test]
fn every_bad_input_fails_cleanly() {
    assert!(CASES.len() >= 20, "the issue asks for at least 20 cases");
    let mut failures = Vec::new();
    for case in CASES {
        let fleet = Fleet::new();
        let good = fleet.nxinfra(&["render"]);
        assert!(
            good.status.success(),
            "{}: baseline render failed: {:?}",
            case.name,
            texts(&good)
        );
        let before = snapshot(&fleet.path("rendered"));
        assert!(!before.is_empty());

        (case.setup)(&fleet);
        let out = fleet.nxinfra(case.args);
        let (stdout, stderr) = texts(&out);
        let mut problems = Vec::new();
        if out.status.code() != Some(1) {
            problems.push(format!("exit status {:?}, expected 1", out.status.code()));
        }
        if stderr.contains("panicked") {
            problems.push("panicked".into());
        }
        for fragment in case.expect {
            if !stderr.contains(fragment) {
                problems.push(format!("error lacks {fragment:?}"));
            }
        }
        if stdout.contains(SECRET) || stderr.contains(SECRET) {
            problems.push("a secret value was printed".into());
        }
        if snapshot(&fleet.path("rendered")) != before {
            problems.push("rendered/ changed".into());
        }
        let left = leftovers(fleet.root());
        if !left.is_empty() {
            problems.push(format!("left behind: {left:?}"));
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{}: {}\n    stderr: {}",
                case.name,
                problems.join("; "),
                stderr.trim()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}
