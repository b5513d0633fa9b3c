//! Unpacking layers into snapshots: in a worker thread fed chunk by chunk while the blob streams
//! into the content store (one pass over the data, layers in parallel), or from a stored blob.

use crate::error::{ImageError, Result};
use crate::store::ImageStore;
use berth_archive::{apply_layer, ApplyOptions, LayerStats, Whiteouts};

/// What a worker thread returns: its measurements, before the diffID is settled.
type WorkerResult = Result<(LayerStats, DirUsage)>;
use berth_meta::Lease;
use berth_oci::Digest;
use berth_snapshot::Snapshotter;
use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Chunks buffered between the streaming thread and one unpack worker.
const CHANNEL_DEPTH: usize = 16;

/// Names and sizes found in an unpacked directory: the fingerprint `system check` compares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirUsage {
    /// Entries below the directory (every name, whatever its type).
    pub entries: u64,
    /// Bytes of regular files (hardlinked files counted once per name).
    pub bytes: u64,
}

/// A layer unpacked into an active snapshot, not yet committed.
#[derive(Debug)]
pub(crate) struct Unpacked {
    /// The active snapshot's key.
    pub key: String,
    /// Whether it was prepared on its final parent (copy driver: commit as is) or alone
    /// (overlay: stacked at commit).
    pub has_parent: bool,
    /// The layer's diffID.
    pub diff_id: Digest,
    /// What the directory holds.
    pub usage: DirUsage,
}

/// A unique ingest or snapshot name for this process.
pub(crate) fn unique_ref(what: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{what}-{}-{nanos}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Removes an uncommitted snapshot, ignoring failures (GC removes what is left).
pub(crate) fn discard(snaps: &dyn Snapshotter, key: &str) {
    let _ = snaps.remove(key);
}

/// Whether `head` (the first bytes of a file) starts a layer: gzip, zstd, or a tar header.
pub(crate) fn looks_like_layer(head: &[u8]) -> bool {
    head.starts_with(&[0x1f, 0x8b])
        || head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
        || (head.len() >= 262 && &head[257..262] == b"ustar")
}

/// A `Read` over chunks sent by another thread; end of stream when the sender is dropped.
struct ChunkReader {
    rx: Receiver<Arc<Vec<u8>>>,
    current: Arc<Vec<u8>>,
    pos: usize,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.current.len() {
            match self.rx.recv() {
                Ok(chunk) => {
                    self.current = chunk;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.pos);
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// A layer being unpacked by a worker thread; feed it with [`Worker::send`], then
/// [`Worker::finish`].
pub(crate) struct Worker {
    tx: Option<SyncSender<Arc<Vec<u8>>>>,
    handle: Option<JoinHandle<WorkerResult>>,
    key: String,
    snaps: Arc<dyn Snapshotter>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker").field("key", &self.key).finish()
    }
}

impl Worker {
    /// Prepares a parentless snapshot and starts a thread unpacking into it what is sent.
    /// Only for drivers with independent layers. With `hash` off the worker does not compute
    /// the diffID: the caller knows it (an uncompressed stream it hashes itself).
    pub fn start(store: &ImageStore, source: &str, hash: bool, lease: &Lease) -> Result<Worker> {
        let snaps = Arc::clone(&store.snapshots);
        let key = unique_ref("unpack");
        lease.add_snapshot(&key)?;
        snaps.prepare(&key, None)?;
        let dir = match snaps.layer_dir(&key) {
            Ok(d) => d,
            Err(e) => {
                discard(snaps.as_ref(), &key);
                return Err(e.into());
            }
        };
        let (tx, rx) = sync_channel(CHANNEL_DEPTH);
        let source = source.to_string();
        let spawned = std::thread::Builder::new()
            .name("berth-unpack".into())
            .spawn(move || {
                let reader = ChunkReader {
                    rx,
                    current: Arc::new(Vec::new()),
                    pos: 0,
                };
                let opts = ApplyOptions {
                    diff_id: hash,
                    ..ApplyOptions::with_whiteouts(Whiteouts::Overlay)
                };
                let stats =
                    apply_layer(reader, &dir, &opts).map_err(|source_err| ImageError::Layer {
                        layer: source.clone(),
                        source: source_err,
                    })?;
                Ok((stats, dir_usage(&dir)?))
            });
        match spawned {
            Ok(handle) => Ok(Worker {
                tx: Some(tx),
                handle: Some(handle),
                key,
                snaps,
            }),
            Err(e) => {
                discard(snaps.as_ref(), &key);
                Err(ImageError::Internal(format!(
                    "starting an unpack thread: {e}"
                )))
            }
        }
    }

    /// Hands a chunk to the worker. `false` when the worker stopped early (its error comes from
    /// [`Worker::finish`]).
    pub fn send(&mut self, chunk: Arc<Vec<u8>>) -> bool {
        match &self.tx {
            Some(tx) => tx.send(chunk).is_ok(),
            None => false,
        }
    }

    /// Ends the stream and waits for the worker; `known` is the diffID when the worker was
    /// started without hashing. On error the snapshot is removed.
    pub fn finish(mut self, known: Option<Digest>) -> Result<Unpacked> {
        self.tx = None;
        let handle = self.handle.take().expect("joined once");
        let result = handle
            .join()
            .unwrap_or_else(|_| Err(ImageError::Internal("an unpack thread panicked".into())))
            .and_then(|(stats, usage)| {
                let diff_id = stats.diff_id.or(known).ok_or_else(|| {
                    ImageError::Internal(format!("no diffID for unpacked layer {}", self.key))
                })?;
                Ok(Unpacked {
                    key: self.key.clone(),
                    has_parent: false,
                    diff_id,
                    usage,
                })
            });
        if result.is_err() {
            discard(self.snaps.as_ref(), &self.key);
        }
        result
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            self.tx = None;
            let _ = handle.join();
            discard(self.snaps.as_ref(), &self.key);
        }
    }
}

/// Unpacks a stored blob into a new active snapshot (on `parent` for drivers whose layers are
/// not independent), verifying the blob's digest as it streams.
pub(crate) fn unpack_blob(
    store: &ImageStore,
    blob: &Digest,
    source: &str,
    parent: Option<&str>,
    lease: &Lease,
) -> Result<Unpacked> {
    let snaps = store.snapshots.as_ref();
    let independent = snaps.independent_layers();
    let key = unique_ref("unpack");
    lease.add_snapshot(&key)?;
    snaps.prepare(&key, if independent { None } else { parent })?;
    let result =
        (|| {
            let dir = snaps.layer_dir(&key)?;
            let whiteouts = if independent {
                Whiteouts::Overlay
            } else {
                Whiteouts::Delete
            };
            let reader = store.content.read_verified(blob)?;
            let stats = apply_layer(reader, &dir, &ApplyOptions::with_whiteouts(whiteouts))
                .map_err(|e| ImageError::Layer {
                    layer: source.to_string(),
                    source: e,
                })?;
            let usage = dir_usage(&dir)?;
            Ok(Unpacked {
                key: key.clone(),
                has_parent: !independent,
                diff_id: stats.diff_id.expect("hashing is on by default"),
                usage,
            })
        })();
    if result.is_err() {
        discard(snaps, &key);
    }
    result
}

/// Counts the names below `dir` and the bytes of its regular files, never following symlinks.
pub fn dir_usage(dir: &Path) -> Result<DirUsage> {
    let mut usage = DirUsage::default();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(ImageError::io("reading", &d))?;
        for entry in entries {
            let entry = entry.map_err(ImageError::io("reading", &d))?;
            let ft = entry
                .file_type()
                .map_err(ImageError::io("stat", entry.path()))?;
            usage.entries += 1;
            if ft.is_dir() {
                stack.push(entry.path());
            } else if ft.is_file() {
                let md = entry
                    .metadata()
                    .map_err(ImageError::io("stat", entry.path()))?;
                usage.bytes += md.len();
            }
        }
    }
    Ok(usage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_reader_reassembles_chunks() {
        let (tx, rx) = sync_channel(4);
        let t = std::thread::spawn(move || {
            for part in [&b"hel"[..], b"", b"lo ", b"world"] {
                tx.send(Arc::new(part.to_vec())).unwrap();
            }
        });
        let mut r = ChunkReader {
            rx,
            current: Arc::new(Vec::new()),
            pos: 0,
        };
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        t.join().unwrap();
        assert_eq!(s, "hello world");
    }

    #[test]
    fn layer_detection() {
        assert!(looks_like_layer(&[0x1f, 0x8b, 8]));
        assert!(!looks_like_layer(b"{\"a\":1}"));
        let mut h = vec![0u8; 512];
        h[257..262].copy_from_slice(b"ustar");
        assert!(looks_like_layer(&h));
    }

    #[test]
    fn usage_counts_names_and_bytes() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("d")).unwrap();
        std::fs::write(t.path().join("d/f"), b"12345").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", t.path().join("l")).unwrap();
        let u = dir_usage(t.path()).unwrap();
        assert_eq!(
            u,
            DirUsage {
                entries: 3,
                bytes: 5
            }
        );
    }
}
