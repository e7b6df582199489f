//! Where backups are kept, locally: `<dir>/<host>/<name>/<name>-<UTC time>.gz.age` — gzip,
//! then age-encrypted to the secrets' recipients (`secrets/recipients.txt`), so that whoever
//! can read the secrets can restore, and nobody else. Folders 0700, files 0600. A backup is
//! written to a temporary file beside its final place and renamed there only when it is
//! complete: an interrupted or failed backup leaves nothing.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};

/// The folder of the backups, under the repository unless `--dir` says otherwise.
pub const DEFAULT_DIR: &str = "backups";

/// The folder of one host's backup `name`.
pub fn folder(dir: &Path, host: &str, name: &str) -> PathBuf {
    dir.join(host).join(name)
}

/// The copies of `name` kept in `folder` (file name, size), in no order.
pub fn listed(folder: &Path) -> io::Result<Vec<(String, u64)>> {
    match std::fs::read_dir(folder) {
        Ok(entries) => Ok(entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let size = e.metadata().ok()?.len();
                Some((e.file_name().into_string().ok()?, size))
            })
            .collect()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// What a finished backup holds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Written {
    /// Size of the dump, before compression.
    pub bytes: u64,
    /// Size of the file.
    pub stored: u64,
    /// sha256 of the dump.
    pub sha256: String,
    /// sha256 of the file (what each destination must hold).
    pub stored_sha256: String,
}

/// A backup being written: the dump goes in through [`Writing::write`], compressed and
/// encrypted into a temporary file; [`Writing::finish`] puts it in place.
pub struct Writing {
    encoder: GzEncoder<age::stream::StreamWriter<Hashed<tempfile::NamedTempFile>>>,
    hasher: Sha256,
    bytes: u64,
}

/// A writer that hashes and counts what goes through it.
struct Hashed<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashed<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A finished backup in its temporary file (the spool), complete and synced, not yet at any
/// destination: every destination gets these same bytes. Dropped, it is removed.
pub struct Spool {
    file: tempfile::NamedTempFile,
    pub written: Written,
}

impl Spool {
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Gives it the name `target` too (a hard link: the spool stays for the others), at
    /// once complete.
    pub fn link(&self, target: &Path) -> io::Result<()> {
        match std::fs::hard_link(self.file.path(), target) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                std::fs::remove_file(target)?;
                std::fs::hard_link(self.file.path(), target)
            }
            other => other,
        }?;
        if let Some(folder) = target.parent() {
            std::fs::File::open(folder)?.sync_all()?;
        }
        Ok(())
    }
}

pub fn private_folder(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
}

impl Writing {
    /// Starts a spool in `folder` (made 0700 with its parents), encrypted to `recipients`.
    pub fn start(folder: &Path, recipients: &[age::x25519::Recipient]) -> io::Result<Writing> {
        private_folder(folder)?;
        // NamedTempFile is 0600 and removed if it is dropped unfinished.
        let tmp = tempfile::Builder::new()
            .prefix(".partial-")
            .tempfile_in(folder)?;
        let encryptor =
            age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
                .map_err(io::Error::other)?;
        let age = encryptor.wrap_output(Hashed {
            inner: tmp,
            hasher: Sha256::new(),
            bytes: 0,
        })?;
        Ok(Writing {
            encoder: GzEncoder::new(age, Compression::default()),
            hasher: Sha256::new(),
            bytes: 0,
        })
    }

    pub fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.hasher.update(data);
        self.bytes += data.len() as u64;
        self.encoder.write_all(data)
    }

    /// Ends the compression and the encryption and syncs the spool to disk.
    pub fn finish(self) -> io::Result<Spool> {
        let hashed = self.encoder.finish()?.finish()?;
        hashed.inner.as_file().sync_all()?;
        Ok(Spool {
            written: Written {
                bytes: self.bytes,
                stored: hashed.bytes,
                sha256: hex::encode(self.hasher.finalize()),
                stored_sha256: hex::encode(hashed.hasher.finalize()),
            },
            file: hashed.inner,
        })
    }
}

/// Opens a backup for reading: decrypted with `identities`, decompressed.
pub fn open(
    file: &Path,
    identities: &crate::secrets::age_file::Identities,
) -> io::Result<impl Read + Send + use<>> {
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

/// What a backup's `check` command said of a copy's plaintext.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Checked {
    /// Its exit status (-1: killed by a signal).
    pub code: i32,
    /// The end of its output (stdout, then stderr), not yet redacted.
    pub output: String,
}

impl Checked {
    pub fn passed(&self) -> bool {
        self.code == 0
    }
}

/// [`verify`], with `check` (run here by `sh -c`) fed the plaintext on its stdin as it is
/// read: a check that stops reading early (`head`, `grep -q`) does not stop the read, which
/// goes on to the end (age's and gzip's checks cover every byte).
pub fn verify_checked(
    file: &Path,
    identities: &crate::secrets::age_file::Identities,
    check: &str,
) -> io::Result<((u64, String), Checked)> {
    use std::process::{Command, Stdio};
    let mut reader = open(file, identities)?;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(check)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut tail = crate::util::pipe::Tail::default();
            if let Some(mut pipe) = pipe {
                let mut buf = [0u8; 8192];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    tail.push(&buf[..n]);
                }
            }
            tail.text()
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let mut stdin = child.stdin.take();
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut bytes = 0u64;
    let read = loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => n,
            Err(e) => break Err(e),
        };
        hasher.update(&buf[..n]);
        bytes += n as u64;
        if let Some(pipe) = stdin.as_mut()
            && pipe.write_all(&buf[..n]).is_err()
        {
            // The check has read all it wants.
            stdin = None;
        }
    };
    drop(stdin);
    if let Err(e) = read {
        let _ = child.kill();
        let _ = child.wait();
        return Err(e);
    }
    let status = child.wait()?;
    let output = [out.join(), err.join()]
        .into_iter()
        .map(|t| t.unwrap_or_default())
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    Ok((
        (bytes, hex::encode(hasher.finalize())),
        Checked {
            code: status.code().unwrap_or(-1),
            output,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::backup::file_name;
    use std::os::unix::fs::PermissionsExt;
    use std::str::FromStr;
    use std::time::SystemTime;

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
    fn a_backup_is_private_complete_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let (identities, recipients) = keys();
        let folder = folder(dir.path(), "h1", "db");
        let target = folder.join(file_name("db", SystemTime::now()));
        let data: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let mut w = Writing::start(&folder, &recipients).unwrap();
        for chunk in data.chunks(7_000) {
            w.write(chunk).unwrap();
        }
        let spool = w.finish().unwrap();
        let written = spool.written.clone();
        assert_eq!(written.bytes, data.len() as u64);
        assert_eq!(written.sha256, hex::encode(Sha256::digest(&data)));
        spool.link(&target).unwrap();
        let stored = std::fs::read(&target).unwrap();
        assert_eq!(written.stored, stored.len() as u64);
        assert_eq!(written.stored_sha256, hex::encode(Sha256::digest(&stored)));
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&target), 0o600);
        assert_eq!(mode(target.parent().unwrap()), 0o700);
        // The spool goes, the copy stays.
        drop(spool);
        assert_eq!(listed(&folder).unwrap().len(), 1);
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

        // The check reads the plaintext; one that stops early does not stop the read.
        let ((bytes, _), checked) = verify_checked(&target, &identities, "wc -c").unwrap();
        assert_eq!(bytes, data.len() as u64);
        assert_eq!((checked.code, checked.output.trim()), (0, "800000"));
        let (_, checked) = verify_checked(
            &target,
            &identities,
            "head -c 1 >/dev/null; echo no >&2; exit 3",
        )
        .unwrap();
        assert_eq!((checked.passed(), checked.output.as_str()), (false, "no"));

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
        let mut w = Writing::start(&folder, &recipients).unwrap();
        w.write(b"half a dump").unwrap();
        drop(w);
        assert_eq!(std::fs::read_dir(&folder).unwrap().count(), 0);
    }
}
