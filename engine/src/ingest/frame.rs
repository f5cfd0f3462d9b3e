//! The ingest log's on-disk frames: `u32 length, u32 CRC-32 of the body, body`, little-endian.
//!
//! A body is one of:
//! - a **record** (`0`): flags (`1`: a topic follows, `2`: an MQTT packet id follows, `4`: a tick), the
//!   topic as `u16 length + UTF-8`, the packet id as `u16`, then the payload to its end. Records are what
//!   offsets count. A *tick* is a record the source itself appends to a log that has been quiet for its
//!   `idle_timeout`: its payload is the wall-clock time (`i64` epoch ms), which the reader takes as the
//!   largest event time so far — the log's watermark moves on, and a replay moves it the same way.
//! - a **release** (`1`): a `u16` MQTT packet id the broker released (PUBREL, QoS 2): it confirms the broker
//!   has the acknowledgement, so the packet id can no longer come back as a redelivery of that record.
//! - a **request** (`2`): an HTTP `Idempotency-Key` with its answer (`u64` first offset, `u64` records,
//!   `i64` epoch ms, then the key), so a retried request is answered as the first one was.
//!
//! A frame whose length runs past the end of the file or whose CRC does not match is a torn write (the
//! process died in the middle of it, before anything in it was acknowledged).

/// Bytes before a frame's body.
pub const HEADER: usize = 8;

const RECORD: u8 = 0;
const RELEASE: u8 = 1;
const REQUEST: u8 = 2;

const HAS_TOPIC: u8 = 1;
const HAS_PACKET_ID: u8 = 2;
const IS_TICK: u8 = 4;

/// A record as it is appended.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogRecord<'a> {
    pub payload: &'a [u8],
    /// The MQTT topic it was published to.
    pub topic: Option<&'a str>,
    /// The MQTT packet id it came with (QoS ≥ 1).
    pub packet_id: Option<u16>,
    /// A tick (the payload is the wall-clock time, see [`tick_payload`]), not a received record.
    pub tick: bool,
}

/// A tick's payload: the wall-clock time in epoch ms.
pub fn tick_payload(ms: i64) -> [u8; 8] {
    ms.to_le_bytes()
}

/// The time a tick's payload holds.
pub fn tick_time(payload: &[u8]) -> Option<i64> {
    Some(i64::from_le_bytes(payload.try_into().ok()?))
}

/// An HTTP request's answer, kept for its `Idempotency-Key`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub first_offset: u64,
    pub accepted: u64,
    /// When it was first answered (epoch ms).
    pub at_ms: i64,
}

/// One decoded frame body.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    Record {
        payload: &'a [u8],
        topic: Option<&'a str>,
        packet_id: Option<u16>,
        tick: bool,
    },
    Release(u16),
    Request {
        key: &'a str,
        answer: Answer,
    },
}

fn frame(out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER]);
    body(out);
    let len = (out.len() - start - HEADER) as u32;
    let crc = crc32fast::hash(&out[start + HEADER..]);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Appends a record frame to `out`.
pub fn put_record(out: &mut Vec<u8>, r: &LogRecord) {
    frame(out, |b| {
        b.push(RECORD);
        let flags = if r.topic.is_some() { HAS_TOPIC } else { 0 }
            | if r.packet_id.is_some() { HAS_PACKET_ID } else { 0 }
            | if r.tick { IS_TICK } else { 0 };
        b.push(flags);
        if let Some(t) = r.topic {
            let t = &t.as_bytes()[..t.len().min(u16::MAX as usize)];
            b.extend_from_slice(&(t.len() as u16).to_le_bytes());
            b.extend_from_slice(t);
        }
        if let Some(p) = r.packet_id {
            b.extend_from_slice(&p.to_le_bytes());
        }
        b.extend_from_slice(r.payload);
    });
}

/// Appends a release frame to `out`.
pub fn put_release(out: &mut Vec<u8>, packet_id: u16) {
    frame(out, |b| {
        b.push(RELEASE);
        b.extend_from_slice(&packet_id.to_le_bytes());
    });
}

/// Appends a request frame to `out`.
pub fn put_request(out: &mut Vec<u8>, key: &str, a: &Answer) {
    frame(out, |b| {
        b.push(REQUEST);
        b.extend_from_slice(&a.first_offset.to_le_bytes());
        b.extend_from_slice(&a.accepted.to_le_bytes());
        b.extend_from_slice(&a.at_ms.to_le_bytes());
        b.extend_from_slice(key.as_bytes());
    });
}

/// The frame at the start of `bytes` and its whole length; `None` when it is incomplete or corrupt.
pub fn next(bytes: &[u8]) -> Option<(Frame<'_>, usize)> {
    let len = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(bytes.get(4..8)?.try_into().ok()?);
    let body = bytes.get(HEADER..HEADER + len)?;
    if crc32fast::hash(body) != crc {
        return None;
    }
    Some((parse(body)?, HEADER + len))
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn parse(body: &[u8]) -> Option<Frame<'_>> {
    match *body.first()? {
        RECORD => {
            let flags = *body.get(1)?;
            let mut at = 2;
            let topic = if flags & HAS_TOPIC != 0 {
                let n = u16_at(body, at)? as usize;
                let t = std::str::from_utf8(body.get(at + 2..at + 2 + n)?).ok()?;
                at += 2 + n;
                Some(t)
            } else {
                None
            };
            let packet_id = if flags & HAS_PACKET_ID != 0 {
                let p = u16_at(body, at)?;
                at += 2;
                Some(p)
            } else {
                None
            };
            Some(Frame::Record {
                payload: &body[at..],
                topic,
                packet_id,
                tick: flags & IS_TICK != 0,
            })
        }
        RELEASE => Some(Frame::Release(u16_at(body, 1)?)),
        REQUEST => Some(Frame::Request {
            answer: Answer {
                first_offset: u64_at(body, 1)?,
                accepted: u64_at(body, 9)?,
                at_ms: u64_at(body, 17)? as i64,
            },
            key: std::str::from_utf8(body.get(25..)?).ok()?,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_read_back_and_a_torn_or_flipped_frame_is_refused() {
        let mut out = Vec::new();
        put_record(
            &mut out,
            &LogRecord {
                payload: b"{\"a\":1}",
                topic: Some("fleet/7/pings"),
                packet_id: Some(42),
                tick: false,
            },
        );
        put_release(&mut out, 42);
        let answer = Answer {
            first_offset: 9,
            accepted: 3,
            at_ms: -5,
        };
        put_request(&mut out, "k-1", &answer);
        put_record(
            &mut out,
            &LogRecord {
                payload: b"x",
                ..Default::default()
            },
        );
        let mut frames = Vec::new();
        let (mut at, mut last_start) = (0, 0);
        while let Some((f, n)) = next(&out[at..]) {
            frames.push(f);
            last_start = at;
            at += n;
        }
        assert_eq!(at, out.len());
        assert_eq!(
            frames,
            vec![
                Frame::Record {
                    payload: b"{\"a\":1}",
                    topic: Some("fleet/7/pings"),
                    packet_id: Some(42),
                    tick: false,
                },
                Frame::Release(42),
                Frame::Request { key: "k-1", answer },
                Frame::Record {
                    payload: b"x",
                    topic: None,
                    packet_id: None,
                    tick: false,
                },
            ]
        );
        // Torn: the last frame cut short, by one byte or inside its header.
        assert!(next(&out[last_start..]).is_some());
        assert!(next(&out[last_start..out.len() - 1]).is_none());
        assert!(next(&out[last_start..last_start + 5]).is_none());
        // A flipped bit in the first frame's body.
        let mut bad = out.clone();
        bad[HEADER + 3] ^= 1;
        assert!(next(&bad).is_none());
    }
}
