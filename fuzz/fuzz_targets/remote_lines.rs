//! What a host's remote scripts print back, through the pure functions that read it:
//! `lock_and_read`/`read_manifest`'s output (`host::remote::manifest_text` and `host_files`:
//! the manifest, the placed files' state, the journal's last record, the pins) and the drift
//! suspects computed from it; the facts (`plan::status::HostFacts::parse`); a backup
//! destination's listing (`parse_backup_list`, the copies and their retention); the journal
//! and pins files; a check's output (`plan::checks`); an engine's status text and identity
//! labels. Every parser gets the whole input.
#![no_main]

use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use nxinfra::host::remote;
use nxinfra::model::backup::Retention;
use nxinfra::model::journal;
use nxinfra::plan::{backup, checks, drift, identity, status::HostFacts};

fuzz_target!(|data: &[u8]| {
    // The session reads the host's output as `String::from_utf8_lossy` does.
    let text = String::from_utf8_lossy(data);
    let text = text.as_ref();

    // lock_and_read: the text before the end marker; read_manifest: all of it.
    let manifest_part = remote::manifest_text(text).unwrap_or(text);
    for part in [manifest_part, text] {
        if let Ok(files) = remote::host_files(part) {
            let _ = drift::suspects(&files);
            let read: BTreeMap<String, Vec<u8>> = files
                .manifest
                .files
                .keys()
                .chain(files.manifest.system.keys())
                .map(|p| (p.clone(), p.as_bytes().to_vec()))
                .collect();
            let _ = drift::compare(&files, &read);
            // apply numbers its deploy after the host's last record (ops::apply).
            let _ = files.journal.next();
        }
    }

    let facts = HostFacts::parse(text);
    let _ = checks::judge_disk(&facts, 90);

    let listed = remote::parse_backup_list(text);
    let copies = backup::copies("pg", listed);
    let retention = Retention {
        keep: 2,
        daily: 3,
        weekly: 2,
    };
    let _ = backup::beyond(&copies, &retention);
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let _ = backup::freshness(&copies, Some(Duration::from_secs(86_400)), now);
    for line in text.lines() {
        let _ = backup::time_of("pg", line);
        let _ = nxinfra::model::observed::exit_code(line);
    }

    if let Ok(records) = journal::parse_history(text) {
        for r in &records {
            let _ = r.to_line();
            let _ = r.changed().count();
        }
    }
    if let Ok(pins) = journal::parse_pins(text) {
        let _ = pins.to_text();
    }
    let _ = journal::Journal::parse(text, "");

    for code in [0, 1, 126, 127] {
        let _ = checks::judge_exec(code, text);
        let _ = checks::nc_lacks_z(code, text);
        let _ = checks::judge_wget(code, text, 200, Some("ok"));
    }
    let _ = checks::judge_http(200, data, 200, Some("ok"));

    if let Some(map) = identity::decode(text) {
        let again = identity::encode(&map);
        assert_eq!(identity::decode(&again), Some(map), "decode(encode(m)) != m");
    }
});
