//! A ring buffer of one output stream: the newest bytes, under absolute offsets.

use std::collections::VecDeque;

use nullspace_guest_proto::StreamInfo;

/// The newest `cap` bytes of a stream, and how many it has had in all.
#[derive(Debug)]
pub struct Ring {
    buf: VecDeque<u8>,
    total: u64,
    cap: usize,
}

/// Bytes read from a ring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Bytes between the offset asked for and the oldest kept byte (dropped).
    pub gap: u64,
    /// The bytes.
    pub bytes: Vec<u8>,
    /// Offset after the bytes (where to read next).
    pub next: u64,
}

impl Ring {
    /// An empty ring keeping at most `cap` bytes.
    pub fn new(cap: usize) -> Self {
        Self {
            buf: VecDeque::new(),
            total: 0,
            cap,
        }
    }

    /// Append bytes, dropping the oldest beyond the capacity.
    pub fn push(&mut self, bytes: &[u8]) {
        self.total += bytes.len() as u64;
        let bytes = &bytes[bytes.len().saturating_sub(self.cap)..];
        let over = (self.buf.len() + bytes.len()).saturating_sub(self.cap);
        self.buf.drain(..over);
        self.buf.extend(bytes);
    }

    /// Offsets of the stream.
    pub fn info(&self) -> StreamInfo {
        StreamInfo {
            total: self.total,
            kept_from: self.total - self.buf.len() as u64,
        }
    }

    /// Up to `max` bytes from offset `from` (at most `total`); bytes before the
    /// oldest kept one are reported as a gap and skipped.
    pub fn read(&self, from: u64, max: usize) -> Chunk {
        let kept_from = self.info().kept_from;
        let start = from.clamp(kept_from, self.total);
        let skip = (start - kept_from) as usize;
        let n = max.min(self.buf.len() - skip);
        Chunk {
            gap: start - from.min(start),
            bytes: self.buf.range(skip..skip + n).copied().collect(),
            next: start + n as u64,
        }
    }

    /// Give back memory the ring no longer needs (once its process ended).
    pub fn shrink(&mut self) {
        self.buf.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_bytes_with_absolute_offsets() {
        let mut r = Ring::new(8);
        r.push(b"abcde");
        assert_eq!(
            r.info(),
            StreamInfo {
                total: 5,
                kept_from: 0
            }
        );
        r.push(b"fghij");
        assert_eq!(
            r.info(),
            StreamInfo {
                total: 10,
                kept_from: 2
            }
        );
        let c = r.read(0, 4);
        assert_eq!((c.gap, c.bytes.as_slice(), c.next), (2, &b"cdef"[..], 6));
        let c = r.read(6, 100);
        assert_eq!((c.gap, c.bytes.as_slice(), c.next), (0, &b"ghij"[..], 10));
        let c = r.read(10, 100);
        assert_eq!((c.gap, c.bytes.len(), c.next), (0, 0, 10));
    }

    #[test]
    fn a_push_larger_than_the_ring_keeps_its_tail() {
        let mut r = Ring::new(4);
        r.push(b"xy");
        r.push(b"0123456789");
        assert_eq!(
            r.info(),
            StreamInfo {
                total: 12,
                kept_from: 8
            }
        );
        assert_eq!(r.read(8, 10).bytes, b"6789");
        let c = r.read(3, 1);
        assert_eq!((c.gap, c.bytes.as_slice(), c.next), (5, &b"6"[..], 9));
        r.shrink();
        assert_eq!(r.read(9, 10).bytes, b"789");
    }
}
