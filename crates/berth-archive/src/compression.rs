//! Compression of layer streams: detection by magic bytes, decoding and encoding.

use std::io::{self, BufReader, Read, Write};

/// How a layer stream is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar stream.
    None,
    /// gzip (`application/vnd.oci.image.layer.v1.tar+gzip`).
    Gzip,
    /// zstd (`application/vnd.oci.image.layer.v1.tar+zstd`).
    Zstd,
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

impl Compression {
    /// The compression of a stream whose first bytes are `head` (anything unknown is `None`).
    pub fn detect(head: &[u8]) -> Compression {
        if head.starts_with(&GZIP_MAGIC) {
            Compression::Gzip
        } else if head.starts_with(&ZSTD_MAGIC) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// The stream as the decoders see it: the peeked magic bytes, then the rest, buffered.
type Peeked<R> = io::Chain<io::Cursor<Vec<u8>>, BufReader<R>>;

/// A reader that undoes the compression detected at the start of the stream.
// One decoder per layer stream: the size difference costs nothing, boxing would add a hop.
#[allow(clippy::large_enum_variant)]
pub enum Decoder<R: Read> {
    /// Uncompressed: bytes pass through.
    Plain(Peeked<R>),
    /// gzip, possibly several members.
    Gzip(flate2::bufread::MultiGzDecoder<Peeked<R>>),
    /// zstd, possibly several frames.
    Zstd(zstd::stream::read::Decoder<'static, Peeked<R>>),
}

impl<R: Read> std::fmt::Debug for Decoder<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Decoder::Plain(_) => "Decoder::Plain",
            Decoder::Gzip(_) => "Decoder::Gzip",
            Decoder::Zstd(_) => "Decoder::Zstd",
        })
    }
}

impl<R: Read> Decoder<R> {
    /// Reads the first bytes of `reader` (as many as the longest magic number, fewer only at the
    /// end of the stream, however the reads are split) and wraps it, buffered, in the matching
    /// decoder.
    pub fn new(mut reader: R) -> io::Result<Decoder<R>> {
        let mut head = vec![0u8; ZSTD_MAGIC.len()];
        let mut got = 0;
        while got < head.len() {
            match reader.read(&mut head[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        head.truncate(got);
        let compression = Compression::detect(&head);
        let stream = io::Cursor::new(head).chain(BufReader::with_capacity(crate::BUF_SIZE, reader));
        Ok(match compression {
            Compression::None => Decoder::Plain(stream),
            Compression::Gzip => Decoder::Gzip(flate2::bufread::MultiGzDecoder::new(stream)),
            Compression::Zstd => Decoder::Zstd(zstd::stream::read::Decoder::with_buffer(stream)?),
        })
    }

    /// The compression that was detected.
    pub fn compression(&self) -> Compression {
        match self {
            Decoder::Plain(_) => Compression::None,
            Decoder::Gzip(_) => Compression::Gzip,
            Decoder::Zstd(_) => Compression::Zstd,
        }
    }
}

impl<R: Read> Read for Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoder::Plain(r) => r.read(buf),
            Decoder::Gzip(r) => r.read(buf),
            Decoder::Zstd(r) => r.read(buf),
        }
    }
}

/// A writer that compresses into `W`.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Encoder<W: Write> {
    Plain(W),
    Gzip(flate2::write::GzEncoder<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Encoder<W> {
    pub(crate) fn new(inner: W, compression: Compression) -> io::Result<Encoder<W>> {
        Ok(match compression {
            Compression::None => Encoder::Plain(inner),
            // Level 6 is gzip's default and what other engines write; speed 1 would be 3x faster.
            Compression::Gzip => Encoder::Gzip(flate2::write::GzEncoder::new(
                inner,
                flate2::Compression::new(6),
            )),
            Compression::Zstd => Encoder::Zstd(zstd::stream::write::Encoder::new(inner, 3)?),
        })
    }

    /// Writes the compression trailer and returns the inner writer.
    pub(crate) fn finish(self) -> io::Result<W> {
        match self {
            Encoder::Plain(w) => Ok(w),
            Encoder::Gzip(e) => e.finish(),
            Encoder::Zstd(e) => e.finish(),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Plain(w) => w.write(buf),
            Encoder::Gzip(w) => w.write(buf),
            Encoder::Zstd(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Encoder::Plain(w) => w.flush(),
            Encoder::Gzip(w) => w.flush(),
            Encoder::Zstd(w) => w.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that returns one byte per read, like a slow pipe.
    struct OneByte<'a>(&'a [u8]);
    impl Read for OneByte<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() || buf.is_empty() {
                return Ok(0);
            }
            buf[0] = self.0[0];
            self.0 = &self.0[1..];
            Ok(1)
        }
    }

    fn roundtrip(c: Compression) {
        let data: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let mut enc = Encoder::new(Vec::new(), c).unwrap();
        enc.write_all(&data).unwrap();
        let packed = enc.finish().unwrap();
        assert_eq!(Compression::detect(&packed), c);
        let mut dec = Decoder::new(OneByte(&packed[..])).unwrap();
        assert_eq!(dec.compression(), c);
        let mut out = Vec::new();
        dec.read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn detects_and_roundtrips_all() {
        roundtrip(Compression::None);
        roundtrip(Compression::Gzip);
        roundtrip(Compression::Zstd);
    }

    #[test]
    fn detect_short_input() {
        assert_eq!(Compression::detect(b""), Compression::None);
        assert_eq!(Compression::detect(b"\x1f"), Compression::None);
        assert_eq!(
            Compression::detect(b"\x28\xb5\x2f\xfd\x00"),
            Compression::Zstd
        );
    }

    #[test]
    fn truncated_gzip_is_an_error() {
        let mut enc = Encoder::new(Vec::new(), Compression::Gzip).unwrap();
        enc.write_all(&[7u8; 10_000]).unwrap();
        let packed = enc.finish().unwrap();
        let cut = &packed[..packed.len() - 6];
        let mut dec = Decoder::new(cut).unwrap();
        let mut out = Vec::new();
        assert!(dec.read_to_end(&mut out).is_err());
    }
}
