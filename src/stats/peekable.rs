//! A reader that shows the first line of a statistics file (to detect its
//! format) and then still streams every line, or every byte to serde_json.

use std::io::{BufRead, Read};

/// A reader that can show its first line and then still stream every line.
///
/// The peeked text is kept as bytes with a read position: `Read` hands it out
/// in whatever chunks the caller asks for (serde_json asks for one byte at a
/// time), which may end inside a multi-byte character.
pub(super) struct Peekable<R> {
    inner: R,
    /// Everything read while peeking (blank lines and the first line).
    first: Vec<u8>,
    /// How much of `first` has already been handed out by `read`.
    first_read: usize,
}

impl<R: BufRead> Peekable<R> {
    pub(super) fn new(inner: R) -> Self {
        Peekable {
            inner,
            first: Vec::new(),
            first_read: 0,
        }
    }

    /// The first non-empty line (kept, and streamed again by `for_each_line`).
    pub(super) fn first_line(&mut self) -> std::io::Result<String> {
        let mut buffered = String::new();
        loop {
            let mut line = String::new();
            if self.inner.read_line(&mut line)? == 0 {
                break;
            }
            buffered.push_str(&line);
            if !line.trim().is_empty() {
                self.first = buffered.into_bytes();
                return Ok(line);
            }
        }
        self.first = buffered.into_bytes();
        Ok(String::new())
    }

    /// Calls `f(line_number, line)` for every line, reusing one buffer.
    pub(super) fn for_each_line(&mut self, mut f: impl FnMut(u64, &str)) -> std::io::Result<()> {
        let mut number = 0u64;
        let first = std::mem::take(&mut self.first);
        // Valid UTF-8 (it was read as text) unless `read` took part of it.
        let rest = String::from_utf8_lossy(&first[self.first_read.min(first.len())..]);
        self.first_read = 0;
        for line in rest.lines() {
            number += 1;
            f(number, line);
        }
        let mut line = String::new();
        loop {
            line.clear();
            if self.inner.read_line(&mut line)? == 0 {
                return Ok(());
            }
            number += 1;
            f(number, line.trim_end_matches(['\n', '\r']));
        }
    }
}

impl<R: BufRead> Read for Peekable<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let pending = self.first.get(self.first_read..).unwrap_or_default();
        if !pending.is_empty() {
            let n = pending.len().min(buf.len());
            buf[..n].copy_from_slice(&pending[..n]);
            self.first_read += n;
            return Ok(n);
        }
        self.inner.read(buf)
    }
}
