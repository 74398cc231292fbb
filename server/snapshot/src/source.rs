//! Random-access byte sources the reader pulls blocks from: a file (positional reads, so
//! two threads can read different sections without sharing a cursor) or bytes in memory.
//!
//! The reader never holds a whole snapshot in memory; it asks for one block at a time.

use std::fs::File;
use std::io;

/// Something the reader can read byte ranges from, from several threads at once.
pub trait ByteSource: Sync {
    /// Total length in bytes.
    fn len(&self) -> u64;
    /// Whether the source holds no bytes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Fill as much of `buf` as possible from `offset`; returns the count (0 at the end).
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
}

impl ByteSource for &[u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(<[u8]>::len(self));
        let n = buf.len().min(<[u8]>::len(self) - start);
        buf[..n].copy_from_slice(&self[start..start + n]);
        Ok(n)
    }
}

/// A file with its length taken once, read with positional reads.
pub struct FileSource {
    file: File,
    len: u64,
}

impl FileSource {
    /// Wrap an open file.
    pub fn new(file: File) -> io::Result<Self> {
        let len = file.metadata()?.len();
        Ok(FileSource { file, len })
    }
}

impl ByteSource for FileSource {
    fn len(&self) -> u64 {
        self.len
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let mut filled = 0;
        while filled < buf.len() {
            match read_at_os(&self.file, &mut buf[filled..], offset + filled as u64) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(filled)
    }
}

#[cfg(unix)]
fn read_at_os(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, offset)
}

#[cfg(windows)]
fn read_at_os(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, offset)
}

/// Size of the blocks sections are read in: large enough to amortize system calls, small
/// enough that a block stays in the core's L2 cache between its copy out of the page cache
/// and its scan (parse of a 800 MB file 0.93-1.07 s with 4 MiB blocks, 0.84-0.93 s with
/// these).
pub(crate) const BLOCK: usize = 256 << 10;

/// Reads `[start, end)` of a source block by block, handing each block to `f`.
/// `f` returns `Some(consumed)` to stop early (e.g. at the closing `]`).
pub(crate) fn for_each_block<E: From<io::Error>>(
    src: &dyn ByteSource,
    start: u64,
    end: u64,
    mut f: impl FnMut(&[u8], u64) -> Result<bool, E>,
) -> Result<(), E> {
    let mut buf = vec![0u8; BLOCK.min((end - start) as usize).max(1)];
    let mut pos = start;
    while pos < end {
        let want = ((end - pos) as usize).min(buf.len());
        let n = src.read_at(&mut buf[..want], pos)?;
        if n == 0 {
            break;
        }
        if f(&buf[..n], pos)? {
            return Ok(());
        }
        pos += n as u64;
    }
    Ok(())
}
