//! Helpers of the Kafka tests: the broker they were given (`WEIR_KAFKA_BROKERS`), a broker of their own
//! (`WEIR_TANSU`, for restarts), publishing with the real `weir publish`, and reading topics back with a
//! plain rdkafka consumer (independent of weir's source).
#![allow(dead_code)]

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Headers;
use rdkafka::{Message, Offset, TopicPartitionList};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const NEEDS_BROKER: &str = "needs a Kafka broker: set WEIR_KAFKA_BROKERS=host:port (tests/run.sh starts one)";

/// The broker under test; never a silent default.
pub fn brokers() -> String {
    std::env::var("WEIR_KAFKA_BROKERS").unwrap_or_else(|_| panic!("{NEEDS_BROKER}"))
}

/// A topic name no other test (or earlier run against the same broker) uses.
pub fn topic(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// `weir publish` of a file (creating a 4-partition topic if needed); returns its stdout.
pub fn publish(brokers: &str, topic: &str, file: &Path, extra: &[&str]) -> String {
    let out = super::ok(
        super::weir()
            .args([
                "publish",
                "--brokers",
                brokers,
                "--topic",
                topic,
                "--file",
                file.to_str().unwrap(),
                "--partitions",
                "4",
            ])
            .args(extra),
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One message as read back.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Record {
    pub offset: i64,
    pub key: Option<String>,
    pub value: Option<String>,
    pub headers: BTreeMap<String, String>,
}

/// Every message of `topic`, per partition in offset order (reads each partition to its end).
pub fn read_topic(brokers: &str, topic: &str) -> BTreeMap<i32, Vec<Record>> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "weir-tests")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .create()
        .expect("consumer");
    let md = c
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let n = md.topics()[0].partitions().len() as i32;
    assert!(n > 0, "topic `{topic}` has no partitions");
    let mut tpl = TopicPartitionList::new();
    for p in 0..n {
        tpl.add_partition_offset(topic, p, Offset::Beginning).unwrap();
    }
    c.assign(&tpl).unwrap();
    let mut out: BTreeMap<i32, Vec<Record>> = (0..n).map(|p| (p, Vec::new())).collect();
    let mut ended = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while ended.len() < n as usize {
        assert!(Instant::now() < deadline, "reading `{topic}` timed out");
        match c.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let text = |b: Option<&[u8]>| b.map(|b| String::from_utf8_lossy(b).into_owned());
                let headers = m
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|x| (x.key.to_string(), text(x.value).unwrap_or_default()))
                            .collect()
                    })
                    .unwrap_or_default();
                out.get_mut(&m.partition()).unwrap().push(Record {
                    offset: m.offset(),
                    key: text(m.key()),
                    value: text(m.payload()),
                    headers,
                });
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                ended.insert(p);
            }
            Some(Err(e)) => panic!("reading `{topic}`: {e}"),
            None => {}
        }
    }
    out
}

/// Writes each partition's values as a JSONL file (line n = offset n − 1 + 1), for a file-based run of the
/// same partitions.
pub fn partition_files(dump: &BTreeMap<i32, Vec<Record>>, dir: &Path) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    dump.iter()
        .map(|(p, records)| {
            let path = dir.join(format!("partition-{p}.jsonl"));
            let mut text = String::new();
            for (i, r) in records.iter().enumerate() {
                assert_eq!(r.offset, i as i64, "partition {p} has a gap in its offsets");
                let v = r.value.as_deref().unwrap_or_default();
                assert!(!v.contains('\n'), "a value with a newline cannot be one line");
                text.push_str(v);
                text.push('\n');
            }
            std::fs::write(&path, text).unwrap();
            path
        })
        .collect()
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A tansu broker of the test's own (memory storage), for tests that stop and restart it.
pub struct OwnBroker {
    pub port: u16,
    child: Option<Child>,
}

pub fn tansu() -> PathBuf {
    PathBuf::from(std::env::var("WEIR_TANSU").unwrap_or_else(|_| {
        panic!("needs the tansu broker binary: set WEIR_TANSU=/path/to/tansu (tests/run.sh fetches it)")
    }))
}

impl OwnBroker {
    pub fn start(port: u16) -> OwnBroker {
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(tansu())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "memory://tansu/",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tansu");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "tansu did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        OwnBroker {
            port,
            child: Some(child),
        }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// kill -9.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Sends SIGTERM to a child and waits for it.
pub fn terminate(child: &mut Child) -> std::process::ExitStatus {
    // SAFETY: plain kill(2) on our own child's pid.
    unsafe { libc_kill(child.id() as i32, 15) };
    child.wait().unwrap()
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

/// The value of a counter or gauge on a `/metrics` page (summed over label sets matching `labels`).
pub fn metric(page: &str, name: &str, labels: &str) -> Option<f64> {
    let mut found = None;
    for line in page.lines() {
        if line.starts_with('#') || !line.starts_with(name) {
            continue;
        }
        let (head, value) = line.rsplit_once(' ')?;
        let rest = &head[name.len()..];
        if !(rest.is_empty() || rest.starts_with('{')) || !head.contains(labels) {
            continue;
        }
        *found.get_or_insert(0.0) += value.parse::<f64>().ok()?;
    }
    found
}

/// One plain HTTP GET of `path` on `addr`; the body.
pub fn http_get(addr: &str, path: &str) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr)?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    Ok(raw.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or(raw))
}
