//! A remote command's pipes: a local reader (a backup being restored) fed to its stdin, and
//! the end of its stderr kept for the error message.

use tokio::io::{AsyncWrite, AsyncWriteExt};

/// Copies all of `input` into `out`, 64 KiB at a time; `out` is left open.
pub async fn feed<W: AsyncWrite + Unpin + ?Sized>(
    input: &mut (dyn std::io::Read + Send),
    out: &mut W,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        out.write_all(&buf[..n]).await?;
    }
}

/// The last bytes of a command's stderr, kept as it streams (memory stays bounded however
/// much the command prints).
#[derive(Default)]
pub struct Tail(Vec<u8>);

impl Tail {
    /// How much is kept.
    pub const KEPT: usize = 2048;

    pub fn push(&mut self, chunk: &[u8]) {
        self.0.extend_from_slice(chunk);
        let excess = self.0.len().saturating_sub(Self::KEPT);
        self.0.drain(..excess);
    }

    /// The kept end, as text, trimmed.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0).trim().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_keeps_the_last_bytes_only() {
        let mut t = Tail::default();
        t.push(b"start ");
        t.push(&vec![b'x'; Tail::KEPT]);
        t.push(b" end\n");
        let text = t.text();
        assert!(text.ends_with("x end") && !text.contains("start"), "{text}");
        assert_eq!(text.len(), Tail::KEPT - 1);
    }
}
