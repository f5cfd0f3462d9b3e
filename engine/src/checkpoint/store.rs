//! Checkpoint files: the on-disk format, atomic writes, and finding the newest good one.
//!
//! A checkpoint is one file `ckpt-EEEEEEEEEEEE.weir` (`E` = epoch): the magic `WEIRCKPT`, a format version
//! (u32 LE), the body length (u64 LE), the body's CRC-32 (u32 LE), then the body (`bincode`). It is written
//! as a temp file, fsynced, renamed into place, and the directory fsynced, so a crash leaves either the old
//! set of files or the new one. A file that is truncated, has a bad checksum or an unknown version is
//! reported and skipped: the previous good checkpoint is used.

use super::Checkpoint;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"WEIRCKPT";
/// Version of the file format and of the state it holds; bumped on any incompatible change.
pub const FORMAT_VERSION: u32 = 1;
const HEADER: usize = 8 + 4 + 8 + 4;

/// Why a checkpoint file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("cannot read it: {0}")]
    Io(#[from] io::Error),
    #[error("it is not a weir checkpoint (bad magic bytes)")]
    NotACheckpoint,
    #[error("it was written by an incompatible weir (format version {0}, this weir reads {FORMAT_VERSION})")]
    Version(u32),
    #[error("it is truncated ({have} of {want} bytes)")]
    Truncated { have: usize, want: usize },
    #[error("its checksum does not match (corrupt)")]
    Checksum,
    #[error("its content cannot be decoded: {0}")]
    Decode(String),
}

fn file_name(epoch: u64) -> String {
    format!("ckpt-{epoch:012}.weir")
}

fn epoch_of(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    name.strip_prefix("ckpt-")?.strip_suffix(".weir")?.parse().ok()
}

/// Encodes a checkpoint as file bytes.
pub fn encode(ck: &Checkpoint) -> Vec<u8> {
    let body = bincode::serialize(ck).expect("a checkpoint is serializable");
    let mut out = Vec::with_capacity(HEADER + body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// Decodes and verifies file bytes.
pub fn decode(bytes: &[u8]) -> Result<Checkpoint, CheckpointError> {
    if bytes.len() < HEADER {
        return Err(if bytes.len() >= 8 && &bytes[..8] != MAGIC {
            CheckpointError::NotACheckpoint
        } else {
            CheckpointError::Truncated {
                have: bytes.len(),
                want: HEADER,
            }
        });
    }
    if &bytes[..8] != MAGIC {
        return Err(CheckpointError::NotACheckpoint);
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if version != FORMAT_VERSION {
        return Err(CheckpointError::Version(version));
    }
    let len = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes")) as usize;
    let crc = u32::from_le_bytes(bytes[20..24].try_into().expect("4 bytes"));
    let body = &bytes[HEADER..];
    if body.len() < len {
        return Err(CheckpointError::Truncated {
            have: bytes.len(),
            want: HEADER + len,
        });
    }
    let body = &body[..len];
    if crc32fast::hash(body) != crc {
        return Err(CheckpointError::Checksum);
    }
    bincode::deserialize(body).map_err(|e| CheckpointError::Decode(e.to_string()))
}

/// The checkpoints of one job: a directory of checkpoint files.
#[derive(Clone, Debug)]
pub struct CheckpointStore {
    dir: PathBuf,
}

impl CheckpointStore {
    pub fn new(dir: &Path) -> Self {
        Self { dir: dir.to_path_buf() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Checkpoint files present, newest first.
    pub fn list(&self) -> io::Result<Vec<(u64, PathBuf)>> {
        let mut out = Vec::new();
        match fs::read_dir(&self.dir) {
            Ok(entries) => {
                for e in entries {
                    let path = e?.path();
                    if let Some(epoch) = epoch_of(&path) {
                        out.push((epoch, path));
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        out.sort_by_key(|e| std::cmp::Reverse(e.0));
        Ok(out)
    }

    /// Writes a checkpoint atomically and durably; returns its size in bytes.
    pub fn write(&self, ck: &Checkpoint) -> io::Result<u64> {
        fs::create_dir_all(&self.dir)?;
        let bytes = encode(ck);
        let name = file_name(ck.epoch);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        {
            let mut f = File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
        }
        fs::rename(&tmp, self.dir.join(&name))?;
        File::open(&self.dir)?.sync_all()?;
        Ok(bytes.len() as u64)
    }

    /// Deletes all but the newest `keep` checkpoints (and stray temp files).
    pub fn prune(&self, keep: usize) -> io::Result<()> {
        for (_, path) in self.list()?.into_iter().skip(keep.max(1)) {
            fs::remove_file(path)?;
        }
        Ok(())
    }

    /// The newest checkpoint that reads back intact. Every newer file that does not is reported through
    /// `skipped` (path and reason) and passed over.
    pub fn latest(
        &self,
        mut skipped: impl FnMut(&Path, &CheckpointError),
    ) -> io::Result<Option<(PathBuf, Checkpoint)>> {
        for (_, path) in self.list()? {
            match fs::read(&path).map_err(CheckpointError::from).and_then(|b| decode(&b)) {
                Ok(ck) => return Ok(Some((path, ck))),
                Err(e) => skipped(&path, &e),
            }
        }
        Ok(None)
    }

    /// Deletes every checkpoint (a fresh start).
    pub fn clear(&self) -> io::Result<()> {
        for (_, path) in self.list()? {
            fs::remove_file(path)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ck(epoch: u64) -> Checkpoint {
        Checkpoint {
            job: "j".into(),
            epoch,
            at: epoch * 10,
            finished: false,
            run_id: 7,
            workers: 2,
            created_ms: 0,
            shape: Default::default(),
            sources: Default::default(),
            parts: Default::default(),
        }
    }

    #[test]
    fn round_trips_and_rejects_damage() {
        let bytes = encode(&ck(3));
        assert_eq!(decode(&bytes).unwrap().at, 30);
        assert!(matches!(
            decode(&bytes[..bytes.len() - 1]),
            Err(CheckpointError::Truncated { .. })
        ));
        assert!(matches!(decode(&bytes[..10]), Err(CheckpointError::Truncated { .. })));
        let mut flipped = bytes.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(matches!(decode(&flipped), Err(CheckpointError::Checksum)));
        let mut v2 = bytes.clone();
        v2[8] = 9;
        assert!(matches!(decode(&v2), Err(CheckpointError::Version(9))));
        assert!(matches!(
            decode(b"hello world, not a checkpoint at all"),
            Err(CheckpointError::NotACheckpoint)
        ));
    }

    #[test]
    fn falls_back_to_the_newest_intact_file_and_keeps_the_last_n() {
        let dir = tempfile::tempdir().unwrap();
        let store = CheckpointStore::new(dir.path());
        for e in 1..=4 {
            store.write(&ck(e)).unwrap();
        }
        store.prune(3).unwrap();
        assert_eq!(
            store.list().unwrap().iter().map(|x| x.0).collect::<Vec<_>>(),
            vec![4, 3, 2]
        );
        let newest = store.list().unwrap()[0].1.clone();
        let len = fs::metadata(&newest).unwrap().len();
        File::options()
            .write(true)
            .open(&newest)
            .unwrap()
            .set_len(len / 2)
            .unwrap();
        let mut skipped = Vec::new();
        let (_, got) = store
            .latest(|p, e| skipped.push((p.to_path_buf(), e.to_string())))
            .unwrap()
            .unwrap();
        assert_eq!(got.epoch, 3);
        assert_eq!(skipped.len(), 1);
        assert!(skipped[0].1.contains("truncated"), "{skipped:?}");
    }
}
