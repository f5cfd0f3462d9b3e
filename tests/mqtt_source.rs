//! MQTT sources (`kind = "mqtt"`, DESIGN §11) against a real broker (Debian's mosquitto) and a real publisher
//! (`mosquitto_pub`, QoS 1): weir is SIGKILLed at random moments while messages are published, and every
//! message the broker acknowledged to the publisher is in the output exactly once, its topic as a field; a
//! malformed payload is a dead letter keeping the payload and its log offset.

#[path = "support/crash.rs"]
mod crash;
#[path = "support/mosquitto.rs"]
mod mosquitto;
mod support;

use mosquitto::{Mosquitto, NEEDS_MOSQUITTO};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::jsonl_so_far;

fn write_job(dir: &Path, url: &str, qos: u8) -> PathBuf {
    let job = dir.join("job.toml");
    let text = format!(
        r#"
[job]
name = "fleet"
dead_letters = "dead"
[job.checkpoint]
dir = "{ck}"
interval = "300ms"
[sources.pings]
kind = "mqtt"
url = "{url}"
topics = ["fleet/+/pings"]
qos = {qos}
topic_field = "topic"
max_out_of_orderness = "5s"
schema = {{ id = "int", courier = "string", ts = "timestamp" }}
[sinks.raw]
kind = "jsonl"
path = "{out}/raw.jsonl"
inputs = ["pings"]
[sinks.dead]
kind = "jsonl"
path = "{out}/dead.jsonl"
inputs = ["pings.dead_letters"]
"#,
        ck = dir.join("ck").display(),
        out = dir.join("out").display(),
    );
    std::fs::write(&job, text).unwrap();
    job
}

/// A running `weir run`, killed when dropped (a failed assertion leaves nothing running).
struct Weir(Child);

impl Drop for Weir {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(job: &Path, log: &Path) -> Weir {
    Weir(
        Command::new(env!("CARGO_BIN_EXE_weir"))
            .arg("run")
            .arg(job)
            .arg("--quiet")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap(),
    )
}

/// Waits until `path` has at least `n` lines.
fn wait_for_lines(path: &Path, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while jsonl_so_far(path).len() < n {
        assert!(Instant::now() < deadline, "{} never had {n} lines", path.display());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
#[ignore = "needs mosquitto: set WEIR_MOSQUITTO=/usr/sbin/mosquitto (tests/run.sh does)"]
fn qos_1_messages_are_in_the_output_exactly_once_through_sigkills() {
    exactly_once_through_sigkills(1, 0x3117);
}

/// Publishes at `qos` while weir subscribed at `qos` is SIGKILLed 10 times (instants from `seed`).
fn exactly_once_through_sigkills(qos: u8, seed: u64) {
    let _ = NEEDS_MOSQUITTO;
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(dir.path());
    let job = write_job(dir.path(), &broker.url(), qos);
    let raw_path = dir.path().join("out/raw.jsonl");

    // The first run makes the persistent session (and its subscription) before anything is published: the
    // first message through the whole job says it is there.
    let mut weir = start(&job, &dir.path().join("run-0.log"));
    let mut publisher = broker.publisher("fleet/0/pings", qos);
    let probe = r#"{"id":0,"courier":"c0","ts":1000000}"#;
    let deadline = Instant::now() + Duration::from_secs(30);
    while jsonl_so_far(&raw_path).is_empty() {
        assert!(Instant::now() < deadline, "the first message never arrived");
        publisher.send(probe);
        std::thread::sleep(Duration::from_millis(300));
    }
    publisher.finish();
    let probes = jsonl_so_far(&raw_path).len();

    // Publish from another thread while weir is killed and restarted.
    let total: u64 = 20_000;
    let port = broker.port;
    let publishing = std::thread::spawn(move || {
        let mut p = mosquitto::publisher(port, "fleet/7/pings", qos);
        for id in 1..=total {
            p.send(&format!(
                r#"{{"id":{id},"courier":"c{}","ts":{}}}"#,
                id % 5,
                1_000_000 + id * 50
            ));
            if id == total / 2 {
                p.send("{not json");
            }
            if id % 250 == 0 {
                std::thread::sleep(Duration::from_millis(40));
            }
        }
        p.send(&format!(
            r#"{{"id":999999,"courier":"end","ts":{}}}"#,
            1_000_000 + 3_600_000
        ));
        // Kept open: `mosquitto_pub -l` drops what it still has queued when its input ends.
        p
    });
    let mut rng = crash::Lcg::new(seed);
    for kill in 1..=10 {
        std::thread::sleep(rng.millis(150, 450));
        weir.0.kill().unwrap();
        weir.0.wait().unwrap();
        weir = start(&job, &dir.path().join(format!("run-{kill}.log")));
    }
    let publisher = publishing.join().unwrap();
    wait_for_lines(&raw_path, probes + total as usize + 1);
    publisher.finish();
    unsafe { libc::kill(weir.0.id() as i32, libc::SIGTERM) };
    assert!(weir.0.wait().unwrap().success());

    let mut seen: BTreeMap<u64, usize> = BTreeMap::new();
    for r in jsonl_so_far(&raw_path) {
        let id = r["id"].as_u64().unwrap();
        assert_eq!(
            r["topic"],
            if id == 0 { "fleet/0/pings" } else { "fleet/7/pings" },
            "{r}"
        );
        *seen.entry(id).or_default() += 1;
    }
    seen.remove(&0);
    seen.remove(&999_999);
    assert_eq!(seen.len() as u64, total, "every published message is there");
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "messages twice: {:?}", &twice[..twice.len().min(10)]);
    let dead = jsonl_so_far(&dir.path().join("out/dead.jsonl"));
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0]["raw"], "{not json");
    assert!(dead[0]["offset"].as_u64().unwrap() > total / 2, "{:?}", dead[0]);
}

#[test]
fn mistakes_in_an_mqtt_source_are_named_all_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("job.toml");
    std::fs::write(
        &job,
        r#"
[job.checkpoint]
dir = "ck"
[sources.pings]
kind = "mqtt"
url = "http://broker:1883"
topics = ["fleet/#/pings"]
qos = 2
topic_field = "topic"
schema = { topic = "string", ts = "timestamp" }
[sinks.out]
kind = "stdout"
inputs = ["pings"]
"#,
    )
    .unwrap();
    let out = support::weir().arg("check").arg(&job).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    for expected in [
        "sources.pings.url: `http://broker:1883` is not an MQTT URL",
        "sources.pings.topics: `fleet/#/pings`: `#` must be a whole level and the last one",
        "sources.pings.qos: 2 is not supported yet",
        "field `topic` is declared and is also the field this source fills in itself",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
}
