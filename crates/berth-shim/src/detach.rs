//! The detach sequence (ctrl-p ctrl-q by default) in an attached client's stdin.

/// Scans a client's stdin for its detach keys. Bytes that could start the sequence are held back
/// until it is clear whether they do; when the sequence breaks off they go to the container.
#[derive(Debug, Default)]
pub struct DetachScanner {
    keys: Vec<u8>,
    matched: usize,
}

impl DetachScanner {
    /// A scanner for `keys` (empty: never detaches).
    pub fn new(keys: &[u8]) -> DetachScanner {
        DetachScanner {
            keys: keys.to_vec(),
            matched: 0,
        }
    }

    /// Feeds `data`; the bytes for the container are appended to `out`. Returns true when the
    /// whole sequence was seen (the rest of `data` is dropped, as docker does).
    pub fn feed(&mut self, data: &[u8], out: &mut Vec<u8>) -> bool {
        for &b in data {
            if self.keys.is_empty() {
                out.push(b);
                continue;
            }
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    self.matched = 0;
                    return true;
                }
            } else {
                out.extend_from_slice(&self.keys[..self.matched]);
                self.matched = 0;
                if b == self.keys[0] {
                    self.matched = 1;
                } else {
                    out.push(b);
                }
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_across_chunks_and_passes_broken_sequences() {
        let mut s = DetachScanner::new(&[16, 17]);
        let mut out = Vec::new();
        assert!(!s.feed(b"ab\x10", &mut out));
        assert_eq!(out, b"ab");
        assert!(!s.feed(b"c", &mut out));
        assert_eq!(out, b"ab\x10c");
        out.clear();
        assert!(!s.feed(b"\x10\x10", &mut out));
        assert_eq!(out, b"\x10");
        assert!(s.feed(b"\x11zz", &mut out));
        assert_eq!(out, b"\x10");
        let mut none = DetachScanner::new(&[]);
        out.clear();
        assert!(!none.feed(b"\x10\x11", &mut out));
        assert_eq!(out, b"\x10\x11");
    }
}
