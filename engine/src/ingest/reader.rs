//! Reading an ingest log from an offset, up to what is durable, into batches of records with their offsets
//! (and topics), as a Kafka partition is read.

use super::frame::{self, Frame};
use super::log::{IngestLog, Segment};
use super::IngestError;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;

/// Bytes read from a segment file at a time.
const READ_AHEAD: usize = 256 << 10;

/// Records read: payloads back to back, each one's byte range, log offset and topic.
#[derive(Debug, Default)]
pub struct LogBatch {
    pub raw: Vec<u8>,
    pub ranges: Vec<(u32, u32)>,
    pub offsets: Vec<u64>,
    /// Each record's topic — only from a reader [`LogReader::with_topics`] (else empty).
    pub topics: Vec<Option<String>>,
    /// A tick read after the records (a batch ends at a tick): its offset and wall-clock time.
    pub tick: Option<(u64, i64)>,
}

impl LogBatch {
    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }
}

/// The segment a reader reads: its first offset, path, file and the file position of the buffer's end.
struct OpenSegment {
    first: u64,
    path: std::path::PathBuf,
    file: File,
    pos: u64,
}

/// A cursor over one log.
pub struct LogReader {
    log: Arc<IngestLog>,
    /// The next record's offset.
    next: u64,
    /// The segment being read.
    open: Option<OpenSegment>,
    buf: Vec<u8>,
    /// Where the next frame starts in `buf`.
    at: usize,
    /// Whether batches carry each record's topic (a `topic_field` wants it; otherwise no string per record).
    topics: bool,
}

impl LogReader {
    /// A reader at offset `from`.
    pub fn new(log: Arc<IngestLog>, from: u64) -> Result<LogReader, IngestError> {
        let mut r = LogReader {
            log,
            next: from,
            open: None,
            buf: Vec::new(),
            at: 0,
            topics: false,
        };
        r.seek(from)?;
        Ok(r)
    }

    /// Makes the batches carry each record's topic.
    pub fn with_topics(mut self) -> LogReader {
        self.topics = true;
        self
    }

    /// The next record's offset.
    pub fn position(&self) -> u64 {
        self.next
    }

    /// Opens the segment holding `offset` and reads up to it.
    fn seek(&mut self, offset: u64) -> Result<(), IngestError> {
        let segments = self.log.segments();
        let Some(seg) = segments.iter().rev().find(|s| s.first <= offset) else {
            return Err(IngestError::Deleted {
                offset,
                first: segments.first().map_or(0, |s| s.first),
            });
        };
        self.open_segment(seg)?;
        self.next = seg.first;
        let mut skipped = LogBatch::default();
        while self.next < offset {
            let before = self.next;
            self.read_into(&mut skipped, (offset - self.next) as usize, usize::MAX, offset)?;
            skipped = LogBatch::default();
            if self.next == before {
                break;
            }
        }
        Ok(())
    }

    fn open_segment(&mut self, seg: &Segment) -> Result<(), IngestError> {
        let file = File::open(&seg.path).map_err(|e| IngestError::Io {
            path: seg.path.clone(),
            cause: e.to_string(),
        })?;
        self.open = Some(OpenSegment {
            first: seg.first,
            path: seg.path.clone(),
            file,
            pos: 0,
        });
        self.buf.clear();
        self.at = 0;
        Ok(())
    }

    /// Reads up to `max_records` records (and about `max_bytes` of payload) of what is durable into `out`;
    /// gives how many.
    pub fn read(&mut self, out: &mut LogBatch, max_records: usize, max_bytes: usize) -> Result<usize, IngestError> {
        let durable = self.log.durable_end();
        self.read_into(out, max_records, max_bytes, durable)
    }

    fn read_into(
        &mut self,
        out: &mut LogBatch,
        max_records: usize,
        max_bytes: usize,
        end: u64,
    ) -> Result<usize, IngestError> {
        let mut n = 0;
        let mut following = self.following_segment();
        while self.next < end && n < max_records && out.raw.len() < max_bytes {
            // Every record of the segment read: the next one starts at `next`.
            if let Some(seg) = following.take_if(|s| s.first <= self.next) {
                self.open_segment(&seg)?;
                following = self.following_segment();
            }
            match frame::next(&self.buf[self.at..]) {
                Some((f, len)) => {
                    if let Frame::Record {
                        payload, tick: true, ..
                    } = f
                    {
                        // A batch ends at a tick: the records before it are stamped before it moves the
                        // watermark on.
                        if !out.offsets.is_empty() {
                            break;
                        }
                        out.tick = Some((self.next, frame::tick_time(payload).unwrap_or(i64::MIN)));
                        self.next += 1;
                        self.at += len;
                        n += 1;
                        break;
                    }
                    if let Frame::Record { payload, topic, .. } = f {
                        let start = out.raw.len() as u32;
                        out.raw.extend_from_slice(payload);
                        out.ranges.push((start, out.raw.len() as u32));
                        out.offsets.push(self.next);
                        if self.topics {
                            out.topics.push(topic.map(str::to_string));
                        }
                        self.next += 1;
                        n += 1;
                    }
                    self.at += len;
                }
                None => {
                    if !self.fill()? {
                        break;
                    }
                }
            }
        }
        Ok(n)
    }

    /// The segment after the one being read, if there is one yet.
    fn following_segment(&self) -> Option<Segment> {
        let current = self.open.as_ref()?.first;
        self.log.segments().into_iter().find(|s| s.first > current)
    }

    /// Reads more of the segment; `false` when there is nothing more yet.
    fn fill(&mut self) -> Result<bool, IngestError> {
        let Some(OpenSegment { path, file, pos, .. }) = self.open.as_mut() else {
            return Ok(false);
        };
        self.buf.drain(..self.at);
        self.at = 0;
        let have = self.buf.len();
        self.buf.resize(have + READ_AHEAD, 0);
        let read = file
            .seek(SeekFrom::Start(*pos))
            .and_then(|_| file.read(&mut self.buf[have..]))
            .map_err(|e| IngestError::Io {
                path: path.clone(),
                cause: e.to_string(),
            })?;
        self.buf.truncate(have + read);
        *pos += read as u64;
        Ok(read > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{IngestLog, LogOptions, LogRecord, Publish};
    use super::*;
    use std::time::Duration;

    fn options(max_bytes: u64) -> LogOptions {
        LogOptions {
            max_bytes,
            idempotency_window: Duration::from_secs(3600),
            max_idempotency_keys: 1_000,
        }
    }

    fn record(text: &str) -> LogRecord<'_> {
        LogRecord {
            payload: text.as_bytes(),
            ..Default::default()
        }
    }

    fn read_all(log: &Arc<IngestLog>, from: u64) -> Vec<(u64, String)> {
        let mut r = LogReader::new(log.clone(), from).unwrap();
        let mut b = LogBatch::default();
        while r.read(&mut b, 7, usize::MAX).unwrap() > 0 {}
        b.offsets
            .iter()
            .zip(&b.ranges)
            .map(|(o, (s, e))| (*o, String::from_utf8(b.raw[*s as usize..*e as usize].to_vec()).unwrap()))
            .collect()
    }

    #[test]
    fn a_tick_ends_a_batch_takes_an_offset_and_is_read_back_from_any_position() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(IngestLog::open(dir.path(), 0, options(1 << 20)).unwrap());
        log.append(&[record("a"), record("b")], None).unwrap();
        let end = log.append_tick(1_234_567).unwrap().expect("room for a tick");
        assert_eq!(end, 3);
        let (after, end, _) = log.append(&[record("c")], None).unwrap();
        assert_eq!(after.first_offset, 3, "the tick took offset 2");
        log.wait_durable(end).unwrap();
        let mut r = LogReader::new(log.clone(), 0).unwrap();
        let mut b = LogBatch::default();
        assert_eq!(r.read(&mut b, 100, usize::MAX).unwrap(), 2);
        assert_eq!(
            (b.offsets.clone(), b.tick),
            (vec![0, 1], None),
            "the records before the tick, alone"
        );
        let mut b = LogBatch::default();
        assert_eq!(r.read(&mut b, 100, usize::MAX).unwrap(), 1);
        assert_eq!((b.offsets.is_empty(), b.tick), (true, Some((2, 1_234_567))));
        assert_eq!(read_all(&log, 2), vec![(3, "c".to_string())]);
        let mut from_tick = LogReader::new(log.clone(), 2).unwrap();
        let mut b = LogBatch::default();
        from_tick.read(&mut b, 100, usize::MAX).unwrap();
        assert_eq!(b.tick, Some((2, 1_234_567)));
        assert!(log.quiet_ms() < 60_000);
    }

    #[test]
    fn records_are_read_only_once_durable_across_segments_and_from_any_offset() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(IngestLog::open(dir.path(), 0, options(1 << 20)).unwrap());
        let texts: Vec<String> = (0..5000)
            .map(|i| format!("{{\"i\":{i},\"pad\":\"{}\"}}", "x".repeat(40)))
            .collect();
        let mut ends = Vec::new();
        for chunk in texts.chunks(100) {
            let records: Vec<LogRecord> = chunk.iter().map(|t| record(t)).collect();
            let (answer, end, fresh) = log.append(&records, None).unwrap();
            assert!(fresh);
            assert_eq!(answer.accepted, 100);
            ends.push(end);
        }
        assert!(read_all(&log, 0).is_empty(), "nothing is durable yet");
        log.wait_durable(*ends.last().unwrap()).unwrap();
        assert!(log.segments().len() > 1, "the records span several segments");
        let all = read_all(&log, 0);
        assert_eq!(all.len(), 5000);
        assert!(all
            .iter()
            .enumerate()
            .all(|(i, (o, t))| *o == i as u64 && *t == texts[i]));
        assert_eq!(read_all(&log, 4321)[0], (4321, texts[4321].clone()));

        // Reopened: the same records, appends go on at the next offset.
        drop(log);
        let log = Arc::new(IngestLog::open(dir.path(), 0, options(1 << 20)).unwrap());
        assert_eq!(log.durable_end(), 5000);
        let (a, end, _) = log.append(&[record("{\"i\":5000}")], None).unwrap();
        assert_eq!((a.first_offset, end), (5000, 5001));
        log.wait_durable(end).unwrap();
        assert_eq!(read_all(&log, 4999).len(), 2);

        // Released: segments all below the offset go, the rest still reads.
        let before = log.segments().len();
        log.release_below(3000).unwrap();
        assert!(log.segments().len() < before);
        assert_eq!(read_all(&log, 3000).len(), 2001);
        assert!(matches!(
            LogReader::new(log.clone(), 0),
            Err(IngestError::Deleted { .. })
        ));
    }

    #[test]
    fn a_torn_tail_is_cut_and_a_full_log_refuses_appends() {
        let dir = tempfile::tempdir().unwrap();
        let log = IngestLog::open(dir.path(), 3, options(200)).unwrap();
        let (_, end, _) = log.append(&[record("{\"a\":1}"), record("{\"a\":2}")], None).unwrap();
        log.wait_durable(end).unwrap();
        assert!(matches!(
            log.append(&[record(&"y".repeat(300))], None),
            Err(IngestError::Full { max: 200, .. })
        ));
        let path = log.segments()[0].path.clone();
        assert!(path.file_name().unwrap().to_str().unwrap().starts_with("p3-"));
        drop(log);
        let mut bytes = std::fs::read(&path).unwrap();
        let whole = bytes.len();
        bytes.extend_from_slice(&[9, 0, 0, 0, 1, 2]);
        std::fs::write(&path, &bytes).unwrap();
        let log = Arc::new(IngestLog::open(dir.path(), 3, options(200)).unwrap());
        assert_eq!(std::fs::metadata(&path).unwrap().len() as usize, whole);
        assert_eq!(read_all(&log, 0).len(), 2);
    }

    #[test]
    fn idempotency_keys_and_redeliveries_are_recognised_across_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let log = IngestLog::open(dir.path(), 0, options(1 << 20)).unwrap();
        let (first, _, fresh) = log.append(&[record("a"), record("b")], Some("req-1")).unwrap();
        assert!(fresh);
        let (again, _, fresh) = log.append(&[record("a"), record("b")], Some("req-1")).unwrap();
        assert!(!fresh);
        assert_eq!(again, first);
        let ping = |payload: &'static str, packet_id| LogRecord {
            payload: payload.as_bytes(),
            topic: Some("fleet/1/pings"),
            packet_id: Some(packet_id),
            tick: false,
        };
        assert_eq!(log.append_publish(&ping("p1", 7), false).unwrap(), Publish::Appended(2));
        assert_eq!(log.append_publish(&ping("p2", 8), false).unwrap(), Publish::Appended(3));
        log.released(8).unwrap();
        log.wait_durable(4).unwrap();
        drop(log);
        let log = IngestLog::open(dir.path(), 0, options(1 << 20)).unwrap();
        let (again, _, fresh) = log.append(&[record("a")], Some("req-1")).unwrap();
        assert!(!fresh && again.first_offset == 0 && again.accepted == 2);
        // Packet 7 was not released: its redelivery is known; packet 8 was, so a DUP 8 is new.
        assert_eq!(log.append_publish(&ping("p1", 7), true).unwrap(), Publish::Known(2));
        assert_eq!(log.append_publish(&ping("p2", 8), true).unwrap(), Publish::Appended(4));
        // Same packet id, other payload: a new message.
        assert_eq!(log.append_publish(&ping("p3", 7), true).unwrap(), Publish::Appended(5));
    }
}
