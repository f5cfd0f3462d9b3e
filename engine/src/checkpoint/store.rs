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
/// Version of the file format and of the state it holds; bumped on any incompatible change (2: keyed timers
/// keep a key's state and timers together, rules over one stream and key share a state, sketch counts narrow,
/// window accumulators sum exactly).
pub const FORMAT_VERSION: u32 = 2;
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

/// A checkpoint file: (epoch, (process, processes), path).
type PartFile = (u64, (usize, usize), PathBuf);

/// A checkpoint file's name: `ckpt-EPOCH.weir`, or `ckpt-EPOCH.pIofN.weir` for process `I`'s part of a
/// checkpoint of `N` processes.
fn file_name(epoch: u64, process: (usize, usize)) -> String {
    match process {
        (_, 1) => format!("ckpt-{epoch:012}.weir"),
        (i, n) => format!("ckpt-{epoch:012}.p{i}of{n}.weir"),
    }
}

/// The epoch and (process, processes) of a checkpoint file.
fn parse_name(path: &Path) -> Option<(u64, (usize, usize))> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_prefix("ckpt-")?.strip_suffix(".weir")?;
    match stem.split_once(".p") {
        None => Some((stem.parse().ok()?, (0, 1))),
        Some((epoch, part)) => {
            let (i, n) = part.split_once("of")?;
            Some((epoch.parse().ok()?, (i.parse().ok()?, n.parse().ok()?)))
        }
    }
}

/// One checkpoint of several processes from their parts (in process order): every participant's parts in
/// global worker order, every partition's resume point, every file to publish.
fn merge(mut parts: Vec<Checkpoint>) -> Checkpoint {
    let mut out = parts.remove(0);
    for p in parts {
        for (name, v) in p.parts {
            out.parts.entry(name).or_default().extend(v);
        }
        for (source, points) in p.sources {
            out.sources.entry(source).or_default().extend(points);
        }
        out.finished &= p.finished;
    }
    out
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
    /// This process and the number of processes (`(0, 1)`: one process).
    process: (usize, usize),
}

impl CheckpointStore {
    #[cfg(test)]
    pub fn new(dir: &Path) -> Self {
        Self::for_process(dir, (0, 1))
    }

    /// The store of process `process.0` of `process.1`: it writes and prunes its own parts, and reads a
    /// checkpoint only when every process's part of it is there.
    pub fn for_process(dir: &Path, process: (usize, usize)) -> Self {
        Self {
            dir: dir.to_path_buf(),
            process,
        }
    }

    /// Whether every process's part of `epoch` has been written (always true for one process).
    pub fn complete(&self, epoch: u64) -> bool {
        let (_, n) = self.process;
        (0..n).all(|i| self.dir.join(file_name(epoch, (i, n))).exists())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Checkpoint files present, newest first (with several processes: this process's parts).
    pub fn list(&self) -> io::Result<Vec<(u64, PathBuf)>> {
        Ok(self
            .files()?
            .into_iter()
            .filter(|(_, p, _)| *p == self.process)
            .map(|(e, _, path)| (e, path))
            .collect())
    }

    /// Every checkpoint file, of any process: (epoch, (process, processes), path), newest first.
    fn files(&self) -> io::Result<Vec<PartFile>> {
        let mut out = Vec::new();
        match fs::read_dir(&self.dir) {
            Ok(entries) => {
                for e in entries {
                    let path = e?.path();
                    if let Some((epoch, process)) = parse_name(&path) {
                        out.push((epoch, process, path));
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
        let name = file_name(ck.epoch, self.process);
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

    /// Deletes all but the newest `keep` checkpoints of this process (and, on process 0, the parts left by
    /// runs with another number of processes that are older than those).
    pub fn prune(&self, keep: usize) -> io::Result<()> {
        let own = self.list()?;
        for (_, path) in own.iter().skip(keep.max(1)) {
            fs::remove_file(path)?;
        }
        if let (0, Some((oldest_kept, _))) = (self.process.0, own.iter().take(keep.max(1)).next_back()) {
            for (epoch, (_, n), path) in self.files()? {
                if n != self.process.1 && epoch < *oldest_kept {
                    let _ = fs::remove_file(path);
                }
            }
        }
        Ok(())
    }

    /// The newest checkpoint that reads back intact. Every newer file that does not is reported through
    /// `skipped` (path and reason) and passed over.
    pub fn latest(
        &self,
        mut skipped: impl FnMut(&Path, &CheckpointError),
    ) -> io::Result<Option<(PathBuf, Checkpoint)>> {
        // Newest first; a checkpoint of N processes counts only with all N parts (N may differ from now:
        // a restore may use another number of processes).
        let files = self.files()?;
        let mut groups: Vec<(u64, usize)> = files.iter().map(|f| (f.0, f.1 .1)).collect();
        groups.dedup();
        'groups: for (epoch, n) in groups {
            let mut parts = Vec::new();
            for i in 0..n {
                let path = self.dir.join(file_name(epoch, (i, n)));
                if !path.exists() {
                    continue 'groups; // not every process's part: incomplete
                }
                match fs::read(&path).map_err(CheckpointError::from).and_then(|b| decode(&b)) {
                    Ok(ck) => parts.push(ck),
                    Err(e) => {
                        skipped(&path, &e);
                        continue 'groups;
                    }
                }
            }
            let path = self.dir.join(file_name(epoch, (0, n)));
            return Ok(Some((path, merge(parts))));
        }
        Ok(None)
    }

    /// Deletes every checkpoint, of every process (a fresh start).
    pub fn clear(&self) -> io::Result<()> {
        for (_, _, path) in self.files()? {
            match fs::remove_file(path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
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
