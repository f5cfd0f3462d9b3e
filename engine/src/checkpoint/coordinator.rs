//! The checkpoint coordinator of one run: which source instances hold the job watermark where, when to
//! start a checkpoint and at which logical time, and collecting every participant's part.
//!
//! Shared by the workers of the process (a mutex, touched once per source activation and per participant
//! activation through two atomics on the fast path). Completed checkpoints go to a writer thread, so a large
//! state never stalls a worker while it is written.

use super::resume::{ResumeLog, ResumePoint};
use super::store::CheckpointStore;
use super::{Checkpoint, CheckpointConfig, Contribution, Part};
use parking_lot::Mutex;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A source operator instance: (source, partition or `u32::MAX` for a Kafka worker, worker).
pub type SourceInstance = (u32, u32, usize);

/// Identity of a run's checkpoints (stored in each).
#[derive(Clone, Debug)]
pub struct CheckpointMeta {
    pub job: String,
    pub shape: BTreeMap<String, String>,
    /// Workers of the whole run (all processes).
    pub workers: usize,
    pub run_id: u64,
    /// This process and the number of processes (`(0, 1)`: one process).
    pub process: (usize, usize),
}

impl Default for CheckpointMeta {
    fn default() -> Self {
        Self {
            job: String::new(),
            shape: BTreeMap::new(),
            workers: 1,
            run_id: 0,
            process: (0, 1),
        }
    }
}

/// Figures about the checkpoints a run wrote.
#[derive(Clone, Debug, Default)]
pub struct CheckpointStats {
    pub written: u64,
    pub last_epoch: u64,
    pub last_at: u64,
    pub last_bytes: u64,
    pub max_bytes: u64,
    pub total_write: Duration,
    pub max_write: Duration,
    /// From announcement to the last part (alignment and snapshots).
    pub max_align: Duration,
}

struct Pending {
    epoch: u64,
    at: u64,
    started: Instant,
    parts: BTreeMap<String, BTreeMap<usize, Contribution>>,
    received: usize,
}

/// A checkpoint whose parts are all in, on its way to disk.
struct Completed {
    epoch: u64,
    at: u64,
    align: Duration,
    sources: BTreeMap<String, BTreeMap<u32, ResumePoint>>,
    parts: BTreeMap<String, Vec<Contribution>>,
}

#[derive(Default)]
struct State {
    live: BTreeMap<SourceInstance, u64>,
    ended: BTreeSet<SourceInstance>,
    expected_sources: usize,
    expected_parts: usize,
    next_epoch: u64,
    last_at: Option<u64>,
    last_done: Option<Instant>,
    pending: Option<Pending>,
    logs: BTreeMap<(String, u32), Arc<ResumeLog>>,
    /// Source instances per source index.
    instances: BTreeMap<u32, usize>,
    /// Wake the participants when a checkpoint starts (one whose frontier already stands at its time would
    /// otherwise wait for the next change).
    wake: Vec<timely::scheduling::SyncActivator>,
}

/// Coordinates the checkpoints of one run (and tracks the job watermark, with or without them).
#[derive(Default)]
pub struct Coordinator {
    config: Option<CheckpointConfig>,
    meta: CheckpointMeta,
    restored: Option<Arc<Checkpoint>>,
    pending_epoch: AtomicU64,
    pending_at: AtomicU64,
    state: Mutex<State>,
    writer: Mutex<Option<Sender<Completed>>>,
    /// Checkpoints handed to the writer thread and not written yet.
    unwritten: std::sync::atomic::AtomicUsize,
    pub stats: Mutex<CheckpointStats>,
    /// `--accept-topic-reset`: Kafka offsets the checkpoint has but the partitions no longer have are
    /// reported and passed over instead of refusing to start.
    accept_topic_reset: std::sync::atomic::AtomicBool,
    /// With several processes: checkpoints process 0 started, to announce to every process.
    outbox: Mutex<Vec<(u64, u64)>>,
    /// The source positions of the checkpoints this run wrote that are still kept, oldest first.
    kept: Mutex<std::collections::VecDeque<BTreeMap<String, BTreeMap<u32, ResumePoint>>>>,
}

impl Coordinator {
    /// A coordinator; `restored` is the checkpoint this run resumes from.
    pub fn new(config: Option<CheckpointConfig>, meta: CheckpointMeta, restored: Option<Checkpoint>) -> Self {
        let next_epoch = restored.as_ref().map_or(1, |c| c.epoch + 1);
        Self {
            config,
            meta,
            restored: restored.map(Arc::new),
            state: Mutex::new(State {
                next_epoch,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    pub fn enabled(&self) -> bool {
        self.config.is_some()
    }

    /// Lets a restore go on from the offsets Kafka partitions have now when the checkpoint's are gone.
    pub fn accept_topic_reset(&self) {
        self.accept_topic_reset.store(true, Ordering::SeqCst);
    }

    pub fn topic_reset_accepted(&self) -> bool {
        self.accept_topic_reset.load(Ordering::SeqCst)
    }

    pub fn config(&self) -> Option<&CheckpointConfig> {
        self.config.as_ref()
    }

    pub fn meta(&self) -> &CheckpointMeta {
        &self.meta
    }

    /// The checkpoint this run resumed from.
    pub fn restored(&self) -> Option<&Arc<Checkpoint>> {
        self.restored.as_ref()
    }

    /// How many instances each source has and how many participant parts a checkpoint waits for.
    pub fn expect(&self, instances: BTreeMap<u32, usize>, parts: usize) {
        let mut s = self.state.lock();
        s.expected_sources = instances.values().sum();
        s.instances = instances;
        s.expected_parts = parts;
    }

    /// Registers the resume log of a partition (only when checkpointing is on).
    pub fn resume_log(&self, source: &str, partition: u32) -> Option<Arc<ResumeLog>> {
        self.config.as_ref()?;
        let log = Arc::new(ResumeLog::default());
        self.state
            .lock()
            .logs
            .insert((source.to_string(), partition), log.clone());
        Some(log)
    }

    /// The least position any kept checkpoint resumes partition `partition` of `source` at — what an ingest
    /// log may delete below. `None` until this run has written as many checkpoints as are kept (the older
    /// ones on disk are not known to it), and 0 when one of them has no position for the partition.
    pub fn kept_floor(&self, source: &str, partition: u32) -> Option<u64> {
        let keep = self.config.as_ref()?.keep.max(1);
        let kept = self.kept.lock();
        if kept.len() < keep {
            return None;
        }
        kept.iter()
            .map(|c| c.get(source).and_then(|p| p.get(&partition)).map_or(0, |r| r.position))
            .min()
    }

    /// Publishes the capability a source instance is about to hold (`None`: it has let go). Sources call
    /// this *before* downgrading, so no capability is ever above what the coordinator knows.
    pub fn publish_frontier(&self, id: SourceInstance, at: Option<u64>) {
        let mut s = self.state.lock();
        match at {
            Some(t) => {
                s.live.insert(id, t);
            }
            None => {
                s.live.remove(&id);
                s.ended.insert(id);
            }
        }
    }

    /// The job watermark: the least capability any source instance holds.
    pub fn job_watermark(&self) -> Option<u64> {
        self.state.lock().live.values().min().copied()
    }

    /// Starts a checkpoint if none is pending and the interval has passed since the last one (`force`: now,
    /// for the final checkpoint of a stop). Returns whether one is pending afterwards.
    pub fn maybe_start(&self, force: bool) -> bool {
        let Some(cfg) = &self.config else { return false };
        let (process, processes) = self.meta.process;
        if processes > 1 && (process != 0 || force) {
            // Process 0 starts every checkpoint and announces it; a stop takes no final one (each process
            // stops at its own watermark, which is no common cut): a restart resumes from the last one.
            return self.pending().is_some();
        }
        let mut s = self.state.lock();
        if s.pending.is_some() {
            return true;
        }
        if !force && self.unwritten.load(Ordering::SeqCst) > 0 {
            return false; // the previous one is still being written: never queue state up in memory
        }
        if !force && s.last_done.is_some_and(|d| d.elapsed() < cfg.interval) {
            return false;
        }
        if s.live.len() + s.ended.len() < s.expected_sources {
            return false; // not every source instance has started
        }
        let Some(at) = s.live.values().min().copied() else {
            return false; // the input has ended
        };
        // Once a source has ended, the operators reading it have flushed everything (the end of input is
        // +∞ for them) while others go on: no cut in logical time describes that, so no more checkpoints.
        let ended_source = s
            .instances
            .iter()
            .any(|(src, n)| *n > 0 && s.ended.range((*src, 0, 0)..=(*src, u32::MAX, usize::MAX)).count() == *n);
        if ended_source {
            return false;
        }
        if s.last_at == Some(at) && !force {
            return false; // nothing moved since the last one
        }
        if s.last_done.is_none() && !force {
            // The interval counts from the start of the run.
            s.last_done = Some(Instant::now());
            return false;
        }
        let epoch = s.next_epoch;
        s.next_epoch += 1;
        s.pending = Some(Pending {
            epoch,
            at,
            started: Instant::now(),
            parts: BTreeMap::new(),
            received: 0,
        });
        self.pending_at.store(at, Ordering::SeqCst);
        self.pending_epoch.store(epoch, Ordering::SeqCst);
        for w in &s.wake {
            let _ = w.activate();
        }
        if processes > 1 {
            self.outbox.lock().push((epoch, at));
        }
        true
    }

    /// Checkpoints started here since the last call, for the other processes: (epoch, logical time).
    pub fn take_announcements(&self) -> Vec<(u64, u64)> {
        std::mem::take(&mut *self.outbox.lock())
    }

    /// A checkpoint process 0 started (with several processes): this process takes its part at the same
    /// epoch and logical time.
    pub fn announce(&self, epoch: u64, at: u64) {
        if self.config.is_none() {
            return;
        }
        let mut s = self.state.lock();
        if epoch < s.next_epoch || s.pending.as_ref().is_some_and(|p| p.epoch >= epoch) {
            return; // ours (process 0), or already taken
        }
        s.next_epoch = epoch + 1;
        s.pending = Some(Pending {
            epoch,
            at,
            started: Instant::now(),
            parts: BTreeMap::new(),
            received: 0,
        });
        self.pending_at.store(at, Ordering::SeqCst);
        self.pending_epoch.store(epoch, Ordering::SeqCst);
        for w in &s.wake {
            let _ = w.activate();
        }
    }

    /// The pending checkpoint, if any: (epoch, logical time).
    pub fn pending(&self) -> Option<(u64, u64)> {
        let e = self.pending_epoch.load(Ordering::SeqCst);
        (e != 0).then(|| (e, self.pending_at.load(Ordering::SeqCst)))
    }

    fn submit(&self, name: &str, worker: usize, epoch: u64, part: Contribution) {
        let mut s = self.state.lock();
        let expected = s.expected_parts;
        let Some(p) = s.pending.as_mut().filter(|p| p.epoch == epoch) else {
            return;
        };
        p.parts.entry(name.to_string()).or_default().insert(worker, part);
        p.received += 1;
        if p.received < expected {
            return;
        }
        let p = s.pending.take().expect("pending");
        self.pending_epoch.store(0, Ordering::SeqCst);
        let sources = {
            let mut m: BTreeMap<String, BTreeMap<u32, ResumePoint>> = BTreeMap::new();
            for ((source, partition), log) in &s.logs {
                if let Some(point) = log.choose(p.at) {
                    m.entry(source.clone()).or_default().insert(*partition, point);
                }
            }
            m
        };
        s.last_at = Some(p.at);
        s.last_done = Some(Instant::now());
        let completed = Completed {
            epoch: p.epoch,
            at: p.at,
            align: p.started.elapsed(),
            sources,
            parts: p
                .parts
                .into_iter()
                .map(|(name, by_worker)| (name, by_worker.into_values().collect()))
                .collect(),
        };
        drop(s);
        if let Some(w) = self.writer.lock().as_ref() {
            self.unwritten.fetch_add(1, Ordering::SeqCst);
            let _ = w.send(completed);
        }
    }

    /// Starts the thread that writes completed checkpoints; `on_error` is called if one cannot be written.
    pub fn spawn_writer(
        self: &Arc<Self>,
        on_error: impl Fn(String) + Send + 'static,
    ) -> Option<std::thread::JoinHandle<()>> {
        let cfg = self.config.clone()?;
        let (tx, rx) = channel::<Completed>();
        *self.writer.lock() = Some(tx);
        let me = self.clone();
        Some(std::thread::spawn(move || {
            let store = CheckpointStore::for_process(&cfg.dir, me.meta.process);
            for c in rx {
                let started = Instant::now();
                let parts: BTreeMap<String, Vec<Part>> = c
                    .parts
                    .into_iter()
                    .map(|(name, v)| (name, v.into_iter().map(Contribution::into_part).collect()))
                    .collect();
                let commits: Vec<(std::path::PathBuf, std::path::PathBuf)> =
                    parts.values().flatten().flat_map(|p| p.commits.clone()).collect();
                let ck = Checkpoint {
                    job: me.meta.job.clone(),
                    epoch: c.epoch,
                    at: c.at,
                    finished: false,
                    run_id: me.meta.run_id,
                    workers: me.meta.workers,
                    created_ms: now_ms(),
                    shape: me.meta.shape.clone(),
                    sources: c.sources.clone(),
                    parts,
                };
                // With several processes the checkpoint is complete once every process's part is durable:
                // only then are the files it covers published.
                let written = store
                    .write(&ck)
                    .and_then(|bytes| wait_for_parts(&store, c.epoch).map(|_| bytes))
                    .and_then(|bytes| commit_files(&commits).map(|_| bytes))
                    .and_then(|bytes| store.prune(cfg.keep).map(|_| bytes));
                me.unwritten.fetch_sub(1, Ordering::SeqCst);
                match written {
                    Ok(bytes) => {
                        let mut kept = me.kept.lock();
                        kept.push_back(c.sources);
                        while kept.len() > cfg.keep.max(1) {
                            kept.pop_front();
                        }
                        drop(kept);
                        let took = started.elapsed();
                        let mut st = me.stats.lock();
                        st.written += 1;
                        st.last_epoch = c.epoch;
                        st.last_at = c.at;
                        st.last_bytes = bytes;
                        st.max_bytes = st.max_bytes.max(bytes);
                        st.total_write += took;
                        st.max_write = st.max_write.max(took);
                        st.max_align = st.max_align.max(c.align);
                    }
                    Err(e) => {
                        on_error(format!(
                            "cannot write checkpoint {} to `{}`: {e}",
                            c.epoch,
                            cfg.dir.display()
                        ));
                        return;
                    }
                }
            }
        }))
    }

    /// Stops accepting checkpoints; the writer thread ends once it has written what it has.
    pub fn close_writer(&self) {
        self.writer.lock().take();
    }
}

/// Waits until every process has written its part of checkpoint `epoch` (the directory is shared).
fn wait_for_parts(store: &CheckpointStore, epoch: u64) -> std::io::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !store.complete(epoch) {
        if Instant::now() > deadline {
            return Err(std::io::Error::other(format!(
                "checkpoint {epoch}: the other processes' parts did not appear in `{}` within 120 s (the \
                 checkpoint directory must be shared by every process)",
                store.dir().display()
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Publishes staged files in order: renames each temp file to its final name, or uploads it when the final
/// name is an object URL (`s3://…`, see [`crate::objects`]) and then removes it — done already if the temp
/// is gone (by an earlier attempt, or by another process replaying the same checkpoint at the same time).
pub fn commit_files(commits: &[(std::path::PathBuf, std::path::PathBuf)]) -> std::io::Result<()> {
    let gone = |r: std::io::Result<()>| match r {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        other => other.map(|_| true),
    };
    let mut dirs = BTreeSet::new();
    for (tmp, path) in commits.iter().filter(|(tmp, _)| tmp.exists()) {
        if crate::objects::is_object_path(path) {
            if gone(crate::objects::upload(tmp, &path.to_string_lossy()))? {
                gone(std::fs::remove_file(tmp))?;
            }
        } else if gone(std::fs::rename(tmp, path))? {
            if let Some(d) = path.parent() {
                dirs.insert(d.to_path_buf());
            }
        }
    }
    for d in dirs {
        std::fs::File::open(&d)?.sync_all()?;
    }
    Ok(())
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// One operator or sink instance's side of the protocol.
pub struct Participant {
    coord: Arc<Coordinator>,
    name: String,
    worker: usize,
    done: u64,
}

impl Participant {
    /// The operator or sink whose state this is.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Participant {
    /// `wake` activates the participant's operator.
    pub fn new(coord: Arc<Coordinator>, name: &str, worker: usize, wake: timely::scheduling::SyncActivator) -> Self {
        let done = coord.restored().map_or(0, |c| c.epoch);
        if coord.enabled() {
            coord.state.lock().wake.push(wake);
        }
        Self {
            coord,
            name: name.to_string(),
            worker,
            done,
        }
    }

    /// The checkpoint this participant must take before acting on frontier `frontier` (`None`: the input
    /// ended or the job is stopping): (epoch, logical time), once the frontier has reached that time.
    pub fn due(&self, frontier: Option<u64>) -> Option<(u64, u64)> {
        let (epoch, at) = self.coord.pending()?;
        if epoch <= self.done {
            return None;
        }
        match frontier {
            Some(f) if f < at => None,
            _ => Some((epoch, at)),
        }
    }

    /// Marks checkpoint `epoch` as acted on by a participant that keeps no state across the cut (it only has
    /// to act on it exactly, like a pre-aggregation flushing below it): nothing is handed in.
    pub fn pass(&mut self, epoch: u64) {
        self.done = epoch;
    }

    /// Hands in this participant's part of checkpoint `epoch`.
    pub fn submit(&mut self, epoch: u64, part: Contribution) {
        self.done = epoch;
        self.coord.submit(&self.name, self.worker, epoch, part);
    }

    /// This participant's state parts in the checkpoint the run resumed from, for a run of `peers` workers:
    /// at the same worker count only this worker's own part (keys are routed the same way), otherwise every
    /// old worker's part (to be merged and split by key).
    pub fn restored_states(&self, peers: usize) -> Vec<Vec<u8>> {
        let Some(c) = self.coord.restored() else {
            return Vec::new();
        };
        match c.parts.get(&self.name) {
            Some(parts) if c.workers == peers && parts.len() == peers => {
                let own = &parts[self.worker].state;
                if own.is_empty() {
                    Vec::new()
                } else {
                    vec![own.clone()]
                }
            }
            _ => c.states(&self.name).into_iter().map(<[u8]>::to_vec).collect(),
        }
    }

    /// Whether the job checkpoints at all.
    pub fn enabled(&self) -> bool {
        self.coord.enabled()
    }

    pub fn worker(&self) -> usize {
        self.worker
    }
}
