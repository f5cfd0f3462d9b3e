//! One running instance per checkpoint directory and per output path.
//!
//! Two instances of a job on the same directories would overwrite each other's checkpoints and interleave
//! torn lines in the same files. Before anything is read or written, [`lock_outputs`] takes an exclusive,
//! non-blocking `flock` on a lock file for each: `LOCK` inside the checkpoint directory, and a hidden
//! `.NAME.lock` beside each sink's file or directory (beside, not inside, so a Parquet dataset directory holds
//! only Parquet). The holder writes its pid into the file; a second instance is refused with that pid. The
//! kernel releases a lock when its holder exits, however it exits (a SIGKILLed run leaves no stale lock); the
//! files themselves stay.
//!
//! A lock found held is tried again for up to [`HELD_GRACE`] before the run is refused: the kernel releases
//! a killed process's locks only once it has exited, and a `weir run` killed with SIGKILL takes its child
//! (the supervised job process) with it a moment later — a restart right after must not be refused for that.

use crate::plan::Plan;
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// The locks of one run; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct InstanceLock {
    _files: Vec<File>,
}

/// Why a lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{what} `{}` is in use by another weir (pid {holder}, lock file `{}`); stop it first, or give this run other paths", path.display(), lock.display())]
    Held {
        what: String,
        path: PathBuf,
        lock: PathBuf,
        holder: String,
    },
    #[error("{what} `{}`: cannot create its lock file `{}`: {cause}", path.display(), lock.display())]
    Io {
        what: String,
        path: PathBuf,
        lock: PathBuf,
        cause: std::io::Error,
    },
}

/// Locks the plan's checkpoint directory and every sink path (creating the directories they live in).
pub fn lock_outputs(plan: &Plan) -> Result<InstanceLock, LockError> {
    let mut targets: Vec<(String, PathBuf, PathBuf)> = Vec::new();
    // With several processes each locks its own part of the checkpoint directory, and only process 0 locks
    // the sinks (one lock per running job: the other processes write Parquet and Delta files into what it
    // holds).
    let (process, processes) = plan.process();
    if let Some(c) = &plan.checkpoint {
        let lock = if processes > 1 {
            format!("LOCK.{process}")
        } else {
            "LOCK".into()
        };
        targets.push(("checkpoint directory".into(), c.dir.clone(), c.dir.join(lock)));
    }
    for s in plan.sinks.iter().filter(|_| process == 0) {
        if let Some(path) = s.component.path() {
            targets.push((format!("sink `{}`: path", s.name), path.to_path_buf(), beside(path)));
        }
    }
    let mut files = Vec::new();
    for (what, path, lock) in targets {
        files.push(lock_file_within(&lock, HELD_GRACE).map_err(|e| match e {
            Attempt::Held(holder) => LockError::Held {
                what,
                path,
                lock,
                holder,
            },
            Attempt::Io(cause) => LockError::Io {
                what,
                path,
                lock,
                cause,
            },
        })?);
    }
    Ok(InstanceLock { _files: files })
}

/// `dir/.NAME.lock` for `dir/NAME`.
fn beside(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or("output".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.lock"))
}

/// How long a held lock is tried again before the run is refused.
pub const HELD_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// [`lock_file`], tried again every 50 ms while it is held, for up to `grace`.
fn lock_file_within(lock: &Path, grace: std::time::Duration) -> Result<File, Attempt> {
    let deadline = std::time::Instant::now() + grace;
    loop {
        match lock_file(lock) {
            Err(Attempt::Held(_)) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(50))
            }
            other => return other,
        }
    }
}

enum Attempt {
    Held(String),
    Io(std::io::Error),
}

fn lock_file(lock: &Path) -> Result<File, Attempt> {
    if let Some(dir) = lock.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(Attempt::Io)?;
    }
    let mut file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(lock)
        .map_err(Attempt::Io)?;
    // SAFETY: flock on a descriptor this function owns; no memory is involved.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(Attempt::Io(err));
        }
        let mut holder = String::new();
        let _ = file.read_to_string(&mut holder);
        let holder = holder.trim();
        return Err(Attempt::Held(if holder.is_empty() {
            "unknown".into()
        } else {
            holder.into()
        }));
    }
    let pid = std::process::id().to_string();
    file.set_len(0)
        .and_then(|_| file.rewind())
        .and_then(|_| file.write_all(pid.as_bytes()))
        .map_err(Attempt::Io)?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_file_is_refused_with_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("sub/.x.lock");
        let first = lock_file(&lock).ok().expect("first lock");
        match lock_file(&lock) {
            Err(Attempt::Held(pid)) => assert_eq!(pid, std::process::id().to_string()),
            _ => panic!("a second lock must be refused"),
        }
        drop(first);
        assert!(lock_file(&lock).is_ok(), "released when dropped");
    }

    #[test]
    fn a_lock_released_within_the_grace_is_taken_and_one_held_past_it_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join(".x.lock");
        let first = lock_file(&lock).ok().expect("first lock");
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            drop(first);
        });
        assert!(lock_file_within(&lock, HELD_GRACE).is_ok(), "taken once released");
        releaser.join().unwrap();
        let _held = lock_file(&lock).ok().expect("lock");
        assert!(matches!(
            lock_file_within(&lock, std::time::Duration::from_millis(200)),
            Err(Attempt::Held(_))
        ));
    }
}
