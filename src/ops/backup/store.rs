//! Where backups are kept, locally: `<dir>/<host>/<name>/<name>-<UTC time>.gz.age` — gzip,
//! then age-encrypted to the secrets' recipients (`secrets/recipients.txt`), so that whoever
//! can read the secrets can restore, and nobody else. Folders 0700, files 0600. A backup is
//! written to a temporary file beside its final place and renamed there only when it is
//! complete: an interrupted or failed backup leaves nothing.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};

/// The folder of the backups, under the repository unless `--dir` says otherwise.
pub const DEFAULT_DIR: &str = "backups";
const SUFFIX: &str = ".gz.age";

/// A backup's file name at `time`: `NAME-20261202T013624.123Z.gz.age` (sorts by time).
pub fn file_name(name: &str, time: SystemTime) -> String {
    let stamp: String = humantime::format_rfc3339_millis(time)
        .to_string()
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect();
    format!("{name}-{stamp}{SUFFIX}")
}

/// The time in a backup's file name, as RFC 3339 (`2026-12-02T01:36:24.123Z`).
pub fn time_of(name: &str, file: &str) -> Option<String> {
    let stamp = file
        .strip_prefix(name)?
        .strip_prefix('-')?
        .strip_suffix(SUFFIX)?;
    // 20261202T013624.123Z
    let b = stamp.as_bytes();
    if b.len() != 20 || b[8] != b'T' || b[15] != b'.' || b[19] != b'Z' {
        return None;
    }
    let s = |r: std::ops::Range<usize>| stamp.get(r);
    Some(format!(
        "{}-{}-{}T{}:{}:{}.{}Z",
        s(0..4)?,
        s(4..6)?,
        s(6..8)?,
        s(9..11)?,
        s(11..13)?,
        s(13..15)?,
        s(16..19)?
    ))
}

/// The folder of one host's backup `name`.
pub fn folder(dir: &Path, host: &str, name: &str) -> PathBuf {
    dir.join(host).join(name)
}

/// The backups kept of `name` in `folder`, oldest first (file names only).
pub fn kept(folder: &Path, name: &str) -> io::Result<Vec<String>> {
    let mut out: Vec<String> = match std::fs::read_dir(folder) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|f| time_of(name, f).is_some())
            .collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    out.sort();
    Ok(out)
}

/// Which of `kept` (oldest first) go so that the newest `keep` stay.
pub fn beyond(kept: &[String], keep: usize) -> &[String] {
    &kept[..kept.len().saturating_sub(keep)]
}

/// What a finished backup holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Written {
    pub file: PathBuf,
    /// Size of the dump, before compression.
    pub bytes: u64,
    /// Size of the file.
    pub stored: u64,
    /// sha256 of the dump.
    pub sha256: String,
}

/// A backup being written: the dump goes in through [`Writing::write`], compressed and
/// encrypted into a temporary file; [`Writing::finish`] puts it in place.
pub struct Writing {
    encoder: GzEncoder<age::stream::StreamWriter<tempfile::NamedTempFile>>,
    hasher: Sha256,
    bytes: u64,
    target: PathBuf,
}

fn private_folder(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
}

impl Writing {
    /// Starts `target` (its folders made 0700), encrypted to `recipients`.
    pub fn start(target: PathBuf, recipients: &[age::x25519::Recipient]) -> io::Result<Writing> {
        let folder = target
            .parent()
            .ok_or_else(|| io::Error::other("a backup file needs a folder"))?;
        private_folder(folder)?;
        // NamedTempFile is 0600 and removed if it is dropped unfinished.
        let tmp = tempfile::Builder::new()
            .prefix(".partial-")
            .tempfile_in(folder)?;
        let encryptor =
            age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
                .map_err(io::Error::other)?;
        let age = encryptor.wrap_output(tmp)?;
        Ok(Writing {
            encoder: GzEncoder::new(age, Compression::default()),
            hasher: Sha256::new(),
            bytes: 0,
            target,
        })
    }

    pub fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.hasher.update(data);
        self.bytes += data.len() as u64;
        self.encoder.write_all(data)
    }

    /// Ends the compression and the encryption, syncs the file to disk and renames it into
    /// place.
    pub fn finish(self) -> io::Result<Written> {
        let tmp = self.encoder.finish()?.finish()?;
        tmp.as_file().sync_all()?;
        let stored = tmp.as_file().metadata()?.len();
        tmp.persist(&self.target).map_err(|e| e.error)?;
        Ok(Written {
            file: self.target,
            bytes: self.bytes,
            stored,
            sha256: hex::encode(self.hasher.finalize()),
        })
    }
}

/// Opens a backup for reading: decrypted with `identities`, decompressed.
pub fn open(
    file: &Path,
    identities: &crate::secrets::age_file::Identities,
) -> io::Result<impl Read> {
    let f = io::BufReader::new(std::fs::File::open(file)?);
    let decryptor = age::Decryptor::new_buffered(f).map_err(io::Error::other)?;
    let reader = decryptor
        .decrypt(identities.iter().map(|i| i.as_ref() as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => io::Error::other(
                "the identity cannot decrypt it (it was encrypted to other recipients)",
            ),
            other => io::Error::other(other),
        })?;
    Ok(GzDecoder::new(reader))
}

/// Reads a whole backup through (age's authentication and gzip's checksum check every
/// byte): its size and sha256.
pub fn verify(
    file: &Path,
    identities: &crate::secrets::age_file::Identities,
) -> io::Result<(u64, String)> {
    let mut reader = open(file, identities)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut bytes = 0u64;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        bytes += n as u64;
    }
    Ok((bytes, hex::encode(hasher.finalize())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::str::FromStr;
    use std::time::{Duration, UNIX_EPOCH};

    fn keys() -> (
        crate::secrets::age_file::Identities,
        Vec<age::x25519::Recipient>,
    ) {
        let (identity, public) = crate::secrets::age_file::generate_identity();
        let id = age::x25519::Identity::from_str(identity.lines().last().unwrap().trim())
            .expect("identity");
        let recipient = age::x25519::Recipient::from_str(&public).unwrap();
        (vec![Box::new(id)], vec![recipient])
    }

    #[test]
    fn names_sort_by_time_and_give_it_back() {
        let t = UNIX_EPOCH + Duration::from_millis(1_764_639_384_123);
        let name = file_name("pg", t);
        assert_eq!(name, "pg-20251202T013624.123Z.gz.age");
        assert_eq!(
            time_of("pg", &name).as_deref(),
            Some("2025-12-02T01:36:24.123Z")
        );
        assert!(file_name("pg", t + Duration::from_millis(1)) > name);
        assert_eq!(time_of("pg", "pg-x.gz.age"), None);
        assert_eq!(time_of("other", &name), None);
        let kept = ["a", "b", "c"].map(String::from);
        assert_eq!(beyond(&kept, 2), ["a"]);
        assert!(beyond(&kept, 5).is_empty());
    }

    #[test]
    fn a_backup_is_private_complete_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let (identities, recipients) = keys();
        let target = folder(dir.path(), "h1", "db").join(file_name("db", SystemTime::now()));
        let data: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let mut w = Writing::start(target.clone(), &recipients).unwrap();
        for chunk in data.chunks(7_000) {
            w.write(chunk).unwrap();
        }
        let written = w.finish().unwrap();
        assert_eq!(written.bytes, data.len() as u64);
        assert_eq!(written.sha256, hex::encode(Sha256::digest(&data)));
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&target), 0o600);
        assert_eq!(mode(target.parent().unwrap()), 0o700);
        assert_eq!(
            verify(&target, &identities).unwrap(),
            (written.bytes, written.sha256.clone())
        );
        let mut back = Vec::new();
        open(&target, &identities)
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
        assert_eq!(kept(target.parent().unwrap(), "db").unwrap().len(), 1);

        // Another identity cannot; a damaged file does not verify.
        let (others, _) = keys();
        assert!(
            verify(&target, &others)
                .unwrap_err()
                .to_string()
                .contains("identity")
        );
        let mut bytes = std::fs::read(&target).unwrap();
        let at = bytes.len() / 2;
        bytes[at] ^= 0x55;
        std::fs::write(&target, bytes).unwrap();
        assert!(verify(&target, &identities).is_err());
    }

    #[test]
    fn an_unfinished_backup_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (_, recipients) = keys();
        let folder = folder(dir.path(), "h1", "db");
        let mut w =
            Writing::start(folder.join(file_name("db", SystemTime::now())), &recipients).unwrap();
        w.write(b"half a dump").unwrap();
        drop(w);
        assert_eq!(std::fs::read_dir(&folder).unwrap().count(), 0);
    }
}
