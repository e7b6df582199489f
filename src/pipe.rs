//! Feeding a local reader (a backup being restored) to a remote command's stdin.

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
