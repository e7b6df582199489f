//! A host's rendered tree as data: what `render` makes and sync, apply and diff read.

/// One rendered output file, in memory. Its bytes are shared: a static file that every host
/// gets is held once, not once per host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutFile {
    pub data: std::sync::Arc<[u8]>,
    pub mode: u32,
}

impl OutFile {
    pub fn new(data: impl Into<Vec<u8>>, mode: u32) -> Self {
        OutFile {
            data: data.into().into(),
            mode,
        }
    }
}
