//! One partition's librdkafka queue, read many messages per call.
//!
//! rust-rdkafka reads a split-off partition queue one message per `poll`, and each poll reads the clock
//! (twice: rust-rdkafka's deadline and librdkafka's poll-interval bookkeeping), takes the queue lock and
//! wraps the message in an event. At a million messages a second that bookkeeping costs more than decoding
//! the JSON. [`BatchQueue`] asks librdkafka for up to N ready messages at once
//! (`rd_kafka_consume_batch_queue`), hands each to a closure as a borrowed [`QueueItem`] and frees them before
//! returning, so no message outlives the call and none is copied on the way.
//!
//! The FFI lives here and nowhere else. Soundness rests on three things this type owns: the queue handle
//! keeps its consumer alive (an `Arc`), every message returned by librdkafka is destroyed exactly once before
//! [`BatchQueue::consume`] returns, and a payload is only lent to the closure for the duration of one call.

use rdkafka::bindings as rdsys;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use std::ffi::CString;
use std::ptr::NonNull;
use std::sync::Arc;

/// What one queue entry was: a message of the partition, or an error event for it.
pub enum QueueItem<'a> {
    Message {
        offset: i64,
        /// The message timestamp (ms), if the broker set one.
        timestamp: Option<i64>,
        /// The value; empty for a message without one.
        payload: &'a [u8],
    },
    /// The end of the partition (with `enable.partition.eof`) or a consume error.
    Error(KafkaError),
}

/// A partition's own message queue, split off the consumer's main queue.
pub struct BatchQueue<C: ConsumerContext + 'static> {
    queue: NonNull<rdsys::rd_kafka_queue_t>,
    /// Reused buffer for the message pointers of one call (always empty between calls).
    slots: Vec<*mut rdsys::rd_kafka_message_t>,
    /// The queue belongs to this consumer's client; holding it keeps the client alive as long as the queue.
    _consumer: Arc<BaseConsumer<C>>,
}

impl<C: ConsumerContext + 'static> BatchQueue<C> {
    /// Splits `topic`/`partition` off `consumer`'s main queue, as rust-rdkafka's `split_partition_queue`
    /// does: from now on its fetched messages wait here. `None` if librdkafka knows no such partition.
    /// Like that method, it must be called again after every `assign()`.
    pub fn split(consumer: &Arc<BaseConsumer<C>>, topic: &str, partition: i32) -> Option<Self> {
        let topic = CString::new(topic).ok()?;
        // SAFETY: the client pointer is valid while `consumer` lives; the topic is a NUL-terminated string
        // that outlives the call. The returned handle is ours to destroy (see `Drop`).
        let raw =
            unsafe { rdsys::rd_kafka_queue_get_partition(consumer.client().native_ptr(), topic.as_ptr(), partition) };
        let queue = NonNull::new(raw)?;
        // SAFETY: `queue` is a valid handle; forwarding to null stops it forwarding to the main queue.
        unsafe { rdsys::rd_kafka_queue_forward(queue.as_ptr(), std::ptr::null_mut()) };
        Some(Self {
            queue,
            slots: Vec::new(),
            _consumer: consumer.clone(),
        })
    }

    /// Hands up to `max` messages that are ready now (never waits) to `each`, oldest first; returns how many
    /// entries it handed over. Fewer than `max` means the queue is empty for now.
    pub fn consume(&mut self, max: usize, mut each: impl FnMut(QueueItem<'_>)) -> usize {
        if max == 0 {
            return 0;
        }
        self.slots.clear();
        self.slots.reserve(max);
        // SAFETY: the queue handle is valid; librdkafka writes at most `max` message pointers into the
        // buffer, which has room for `max`, and returns how many it wrote (or -1 on error).
        let n = unsafe { rdsys::rd_kafka_consume_batch_queue(self.queue.as_ptr(), 0, self.slots.as_mut_ptr(), max) };
        let n = n.clamp(0, max as isize) as usize;
        // SAFETY: librdkafka initialised the first `n` slots.
        unsafe { self.slots.set_len(n) };
        for &message in &self.slots {
            // SAFETY: each pointer is a live message librdkafka handed to us; it is destroyed below, after
            // the borrow given to `each` has ended.
            let m = unsafe { &*message };
            let item = if m.err != rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                QueueItem::Error(match m.err {
                    rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR__PARTITION_EOF => {
                        KafkaError::PartitionEOF(m.partition)
                    }
                    e => KafkaError::MessageConsumption(RDKafkaErrorCode::from(e)),
                })
            } else {
                let mut kind = rdsys::rd_kafka_timestamp_type_t::RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
                // SAFETY: `message` is live; `kind` is a valid out-pointer.
                let ts = unsafe { rdsys::rd_kafka_message_timestamp(message, &mut kind) };
                let payload = if m.payload.is_null() || m.len == 0 {
                    &[][..]
                } else {
                    // SAFETY: librdkafka guarantees `len` readable bytes at `payload` while the message lives,
                    // and the slice does not escape this iteration.
                    unsafe { std::slice::from_raw_parts(m.payload as *const u8, m.len) }
                };
                QueueItem::Message {
                    offset: m.offset,
                    timestamp: (kind != rdsys::rd_kafka_timestamp_type_t::RD_KAFKA_TIMESTAMP_NOT_AVAILABLE)
                        .then_some(ts),
                    payload,
                }
            };
            each(item);
        }
        for message in self.slots.drain(..) {
            // SAFETY: every message returned by the batch call is destroyed exactly once, here.
            unsafe { rdsys::rd_kafka_message_destroy(message) };
        }
        n
    }
}

impl<C: ConsumerContext + 'static> Drop for BatchQueue<C> {
    fn drop(&mut self) {
        // SAFETY: the handle came from `rd_kafka_queue_get_partition` and is destroyed once; the client it
        // belongs to is still alive (we hold its consumer).
        unsafe { rdsys::rd_kafka_queue_destroy(self.queue.as_ptr()) };
    }
}
