//! One ingest log: its segment files, appends under one lock, the group-committed `fsync`, what a restarted
//! process rebuilds from it (the next offset, the MQTT packet ids that may come back, HTTP idempotency keys), and
//! the deletion of segments every kept checkpoint is past.

use super::frame::{self, Answer, Frame, LogRecord};
use super::keys::IdempotencyKeys;
use super::IngestError;
use parking_lot::{Condvar, Mutex};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How a log is sized and how long (and how many) idempotency keys it remembers.
#[derive(Clone, Debug)]
pub struct LogOptions {
    pub max_bytes: u64,
    pub idempotency_window: Duration,
    pub max_idempotency_keys: usize,
}

/// A segment file: the offset of its first record, its path and size.
#[derive(Clone, Debug)]
pub(super) struct Segment {
    pub first: u64,
    pub path: PathBuf,
    pub bytes: u64,
}

/// What became of an MQTT message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Publish {
    /// Appended at this offset (durable once `wait_durable(offset + 1)` returns).
    Appended(u64),
    /// A redelivery of the record at this offset, already in the log.
    Known(u64),
}

struct Writer {
    file: File,
    segments: Vec<Segment>,
    /// The next record's offset.
    next: u64,
    total_bytes: u64,
    /// Per MQTT packet id, the latest record that came with it and was not released (QoS 2): its offset and a
    /// hash of topic and payload. A QoS 1 acknowledgement is never confirmed (a PUBACK in the socket's send
    /// queue is lost with a killed process), so a QoS 1 record stays here until its packet id comes again.
    unacked: HashMap<u16, (u64, u64)>,
    /// HTTP idempotency keys: their answer and the end to wait for.
    requests: IdempotencyKeys,
    buf: Vec<u8>,
    /// A failed write leaves the log unusable (what it holds is unknown).
    failed: Option<IngestError>,
}

#[derive(Default)]
struct SyncState {
    durable: u64,
    syncing: bool,
    error: Option<IngestError>,
}

/// One source's log on one process.
pub struct IngestLog {
    dir: PathBuf,
    prefix: String,
    options: LogOptions,
    segment_bytes: u64,
    writer: Mutex<Writer>,
    sync: Mutex<SyncState>,
    synced: Condvar,
    wakers: Mutex<Vec<Box<dyn Fn() + Send + Sync>>>,
    /// When a record (or tick) was last appended, epoch ms (the log's opening counts as one).
    last_append_ms: std::sync::atomic::AtomicI64,
    /// The durable end, for async waiters.
    durable_tx: tokio::sync::watch::Sender<u64>,
}

fn io_error(path: &Path) -> impl Fn(std::io::Error) -> IngestError + '_ {
    move |e| IngestError::Io {
        path: path.to_path_buf(),
        cause: e.to_string(),
    }
}

fn content_hash(topic: Option<&str>, payload: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    topic.hash(&mut h);
    payload.hash(&mut h);
    h.finish()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl IngestLog {
    /// Opens (creating) the log of process `process` in `dir`: reads every segment back, cuts a torn last
    /// frame, and rebuilds the next offset, the packet ids that may come back and the idempotency keys.
    pub fn open(dir: &Path, process: usize, options: LogOptions) -> Result<IngestLog, IngestError> {
        let err = io_error(dir);
        std::fs::create_dir_all(dir).map_err(&err)?;
        let prefix = format!("p{process}-");
        let mut segments: Vec<Segment> = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(&err)? {
            let path = entry.map_err(&err)?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            let first = name
                .strip_prefix(&prefix)
                .and_then(|n| n.strip_suffix(".seg"))
                .and_then(|n| n.parse::<u64>().ok());
            if let Some(first) = first {
                segments.push(Segment { first, path, bytes: 0 });
            }
        }
        segments.sort_by_key(|s| s.first);
        let window = options.idempotency_window.as_millis() as i64;
        let mut requests = IdempotencyKeys::new(window, options.max_idempotency_keys);
        load_requests(&dir.join(format!("{prefix}requests.json")), &mut requests);
        let mut unacked = HashMap::new();
        let mut next = segments.first().map_or(0, |s| s.first);
        let count = segments.len();
        for (i, seg) in segments.iter_mut().enumerate() {
            let bytes = std::fs::read(&seg.path).map_err(io_error(&seg.path))?;
            next = seg.first;
            let mut at = 0;
            while at < bytes.len() {
                let Some((f, n)) = frame::next(&bytes[at..]) else { break };
                match f {
                    Frame::Record {
                        payload,
                        topic,
                        packet_id,
                        ..
                    } => {
                        if let Some(p) = packet_id {
                            unacked.insert(p, (next, content_hash(topic, payload)));
                        }
                        next += 1;
                    }
                    Frame::Release(p) => {
                        unacked.remove(&p);
                    }
                    Frame::Request { key, answer } => {
                        requests.insert(key.to_string(), answer, 0);
                    }
                }
                at += n;
            }
            if at < bytes.len() {
                if i + 1 < count {
                    return Err(IngestError::Corrupt {
                        path: seg.path.clone(),
                        at: at as u64,
                    });
                }
                // A torn last frame: nothing in it was acknowledged.
                let f = OpenOptions::new()
                    .write(true)
                    .open(&seg.path)
                    .map_err(io_error(&seg.path))?;
                f.set_len(at as u64).map_err(io_error(&seg.path))?;
                f.sync_all().map_err(io_error(&seg.path))?;
            }
            seg.bytes = at as u64;
        }
        if segments.is_empty() {
            segments.push(create_segment(dir, &prefix, 0)?);
        }
        let last = segments.last().expect("a segment");
        let file = OpenOptions::new()
            .append(true)
            .open(&last.path)
            .map_err(io_error(&last.path))?;
        let total_bytes = segments.iter().map(|s| s.bytes).sum();
        let segment_bytes = (options.max_bytes / 8).clamp(64 << 10, 64 << 20);
        Ok(IngestLog {
            dir: dir.to_path_buf(),
            prefix,
            options,
            segment_bytes,
            writer: Mutex::new(Writer {
                file,
                segments,
                next,
                total_bytes,
                unacked,
                requests,
                buf: Vec::new(),
                failed: None,
            }),
            sync: Mutex::new(SyncState {
                durable: next,
                ..Default::default()
            }),
            synced: Condvar::new(),
            wakers: Mutex::default(),
            last_append_ms: std::sync::atomic::AtomicI64::new(now_ms()),
            durable_tx: tokio::sync::watch::Sender::new(next),
        })
    }

    /// Appends `records` (written, not yet durable). With `request`, an HTTP idempotency key: when it is
    /// known (within the window), nothing is appended and the first answer comes back with `false`.
    pub fn append(&self, records: &[LogRecord], request: Option<&str>) -> Result<(Answer, u64, bool), IngestError> {
        let mut w = self.writer.lock();
        if let Some(key) = request {
            if let Some((answer, end)) = w.requests.get(key, now_ms()) {
                return Ok((answer.clone(), *end, false));
            }
        }
        let mut buf = std::mem::take(&mut w.buf);
        buf.clear();
        for r in records {
            frame::put_record(&mut buf, r);
        }
        let first = w.next;
        let answer = Answer {
            first_offset: first,
            accepted: records.len() as u64,
            at_ms: now_ms(),
        };
        if let Some(key) = request {
            frame::put_request(&mut buf, key, &answer);
        }
        let result = self.write(&mut w, &buf, records.len() as u64);
        w.buf = buf;
        result?;
        let end = w.next;
        if let Some(key) = request {
            w.requests.insert(key.to_string(), answer.clone(), end);
        }
        Ok((answer, end, true))
    }

    /// Appends an MQTT message unless it is a redelivery (`dup`) of the latest unreleased record with the
    /// same packet id, topic and payload (DESIGN §11).
    pub fn append_publish(&self, record: &LogRecord, dup: bool) -> Result<Publish, IngestError> {
        let mut w = self.writer.lock();
        let hash = content_hash(record.topic, record.payload);
        if let (true, Some(p)) = (dup, record.packet_id) {
            if let Some((offset, h)) = w.unacked.get(&p) {
                if *h == hash {
                    return Ok(Publish::Known(*offset));
                }
            }
        }
        let mut buf = std::mem::take(&mut w.buf);
        buf.clear();
        frame::put_record(&mut buf, record);
        let result = self.write(&mut w, &buf, 1);
        w.buf = buf;
        result?;
        let offset = w.next - 1;
        if let Some(p) = record.packet_id {
            w.unacked.insert(p, (offset, hash));
        }
        Ok(Publish::Appended(offset))
    }

    /// Appends a tick at wall-clock time `ms` (see [`frame`]) and gives the offset after it; nothing when
    /// the log is full (a tick only moves a watermark on, and the log's reader will free space).
    pub fn append_tick(&self, ms: i64) -> Result<Option<u64>, IngestError> {
        let mut w = self.writer.lock();
        let mut buf = std::mem::take(&mut w.buf);
        buf.clear();
        let payload = frame::tick_payload(ms);
        let tick = LogRecord {
            payload: &payload,
            tick: true,
            ..Default::default()
        };
        frame::put_record(&mut buf, &tick);
        let result = self.write(&mut w, &buf, 1);
        w.buf = buf;
        match result {
            Ok(()) => Ok(Some(w.next)),
            Err(IngestError::Full { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Milliseconds since a record or tick was last appended (or the log opened).
    pub fn quiet_ms(&self) -> i64 {
        now_ms() - self.last_append_ms.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Notes that the broker released `packet_id` (PUBREL: it has the acknowledgement of a QoS 2 message).
    pub fn released(&self, packet_id: u16) -> Result<(), IngestError> {
        let mut w = self.writer.lock();
        if w.unacked.remove(&packet_id).is_none() {
            return Ok(());
        }
        let mut buf = std::mem::take(&mut w.buf);
        buf.clear();
        frame::put_release(&mut buf, packet_id);
        let result = self.write(&mut w, &buf, 0);
        w.buf = buf;
        result
    }

    fn write(&self, w: &mut Writer, bytes: &[u8], records: u64) -> Result<(), IngestError> {
        if let Some(e) = &w.failed {
            return Err(e.clone());
        }
        let len = bytes.len() as u64;
        if w.total_bytes + len > self.options.max_bytes && records > 0 {
            return Err(IngestError::Full {
                bytes: w.total_bytes,
                max: self.options.max_bytes,
            });
        }
        if w.segments
            .last()
            .is_some_and(|s| s.bytes > 0 && s.bytes + len > self.segment_bytes)
            && records > 0
        {
            self.roll_over(w)?;
        }
        w.segments.last_mut().expect("a segment").bytes += len;
        if let Err(e) = w.file.write_all(bytes) {
            let e = io_error(&w.segments.last().expect("a segment").path)(e);
            w.failed = Some(e.clone());
            return Err(e);
        }
        w.total_bytes += len;
        w.next += records;
        if records > 0 {
            self.last_append_ms
                .store(now_ms(), std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    }

    /// Makes the current segment durable and starts the next one at the next offset.
    fn roll_over(&self, w: &mut Writer) -> Result<(), IngestError> {
        let path = w.segments.last().expect("a segment").path.clone();
        w.file.sync_data().map_err(io_error(&path))?;
        let seg = create_segment(&self.dir, &self.prefix, w.next)?;
        w.file = OpenOptions::new()
            .append(true)
            .open(&seg.path)
            .map_err(io_error(&seg.path))?;
        w.segments.push(seg);
        Ok(())
    }

    /// Waits until every record before `end` is durable, joining or starting a group `fsync`.
    pub fn wait_durable(&self, end: u64) -> Result<(), IngestError> {
        let mut s = self.sync.lock();
        loop {
            if let Some(e) = &s.error {
                return Err(e.clone());
            }
            if s.durable >= end {
                return Ok(());
            }
            if s.syncing {
                self.synced.wait(&mut s);
                continue;
            }
            s.syncing = true;
            drop(s);
            self.group_sync();
            s = self.sync.lock();
        }
    }

    /// [`wait_durable`](Self::wait_durable) for an async caller (an HTTP request): it awaits the group `fsync`
    /// without holding a thread; the first waiter of a group starts the `fsync` on a blocking thread.
    pub async fn durable(self: &Arc<Self>, end: u64) -> Result<(), IngestError> {
        let mut changed = self.durable_tx.subscribe();
        loop {
            {
                let mut s = self.sync.lock();
                if let Some(e) = &s.error {
                    return Err(e.clone());
                }
                if s.durable >= end {
                    return Ok(());
                }
                if !s.syncing {
                    s.syncing = true;
                    let log = self.clone();
                    tokio::task::spawn_blocking(move || log.group_sync());
                }
            }
            // Subscribed before looking: a sync finishing meanwhile is seen as a change.
            let _ = changed.changed().await;
        }
    }

    /// One group `fsync`, by the waiter that set `syncing`: records what is durable (or the error) and wakes
    /// every waiter, blocking or async, and the reading source.
    fn group_sync(&self) {
        let synced = self.sync_now();
        let mut s = self.sync.lock();
        s.syncing = false;
        match synced {
            Ok(upto) => s.durable = s.durable.max(upto),
            Err(e) => s.error = Some(e),
        }
        self.synced.notify_all();
        let durable = s.durable;
        drop(s);
        self.durable_tx.send_replace(durable);
        for wake in self.wakers.lock().iter() {
            wake();
        }
    }

    /// One `fsync` of the current segment (earlier ones were synced when they filled); gives the offset it
    /// covers.
    fn sync_now(&self) -> Result<u64, IngestError> {
        let (file, upto, path) = {
            let w = self.writer.lock();
            let path = w.segments.last().expect("a segment").path.clone();
            (w.file.try_clone().map_err(io_error(&path))?, w.next, path)
        };
        file.sync_data().map_err(io_error(&path))?;
        Ok(upto)
    }

    /// The end of what is durable: records below it may be read.
    pub fn durable_end(&self) -> u64 {
        self.sync.lock().durable
    }

    /// Calls `wake` whenever more becomes durable (the reading source operator's activator).
    pub fn on_durable(&self, wake: Box<dyn Fn() + Send + Sync>) {
        self.wakers.lock().push(wake);
    }

    /// The offset of the oldest record still in the log.
    pub fn first_offset(&self) -> u64 {
        self.writer.lock().segments.first().map_or(0, |s| s.first)
    }

    /// The segments, oldest first.
    pub(super) fn segments(&self) -> Vec<Segment> {
        self.writer.lock().segments.clone()
    }

    /// Bytes of the segments on disk.
    pub fn bytes(&self) -> u64 {
        self.writer.lock().total_bytes
    }

    /// Deletes the segments whose records are all below `offset` (never the one written to); remembers the
    /// idempotency keys still in their window in a file of their own first.
    pub fn release_below(&self, offset: u64) -> Result<(), IngestError> {
        let mut w = self.writer.lock();
        let deletable = w.segments.windows(2).take_while(|p| p[1].first <= offset).count();
        if deletable == 0 {
            return Ok(());
        }
        w.requests.forget(now_ms());
        save_requests(&self.dir.join(format!("{}requests.json", self.prefix)), &w.requests)?;
        for seg in w.segments.drain(..deletable).collect::<Vec<_>>() {
            std::fs::remove_file(&seg.path).map_err(io_error(&seg.path))?;
            w.total_bytes -= seg.bytes;
        }
        Ok(())
    }
}

fn create_segment(dir: &Path, prefix: &str, first: u64) -> Result<Segment, IngestError> {
    let path = dir.join(format!("{prefix}{first:020}.seg"));
    File::create(&path).map_err(io_error(&path))?;
    // The new file's name must survive a crash too.
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_error(dir))?;
    Ok(Segment { first, path, bytes: 0 })
}

/// Reads the keys saved when their segments were deleted into `keys`, oldest first.
fn load_requests(path: &Path, keys: &mut IdempotencyKeys) {
    let Ok(text) = std::fs::read_to_string(path) else {
        return;
    };
    let mut entries: Vec<(String, u64, u64, i64)> = serde_json::from_str(&text).unwrap_or_default();
    entries.sort_by_key(|e| e.3);
    for (k, first_offset, accepted, at_ms) in entries {
        let a = Answer {
            first_offset,
            accepted,
            at_ms,
        };
        keys.insert(k, a, 0);
    }
}

fn save_requests(path: &Path, requests: &IdempotencyKeys) -> Result<(), IngestError> {
    let entries: Vec<(&String, u64, u64, i64)> = requests
        .iter()
        .map(|(k, a)| (k, a.first_offset, a.accepted, a.at_ms))
        .collect();
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_string(&entries).expect("plain values serialize");
    std::fs::write(&tmp, text)
        .and_then(|_| File::open(&tmp)?.sync_all())
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(io_error(path))
}
