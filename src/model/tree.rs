//! A host's rendered tree as data: what `render` makes and sync, apply and diff read.

/// One rendered output file, in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutFile {
    pub data: Vec<u8>,
    pub mode: u32,
}

impl OutFile {
    pub fn new(data: impl Into<Vec<u8>>, mode: u32) -> Self {
        OutFile {
            data: data.into(),
            mode,
        }
    }
}
