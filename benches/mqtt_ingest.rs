//! Benchmark: MQTT end to end — a publisher (rumqttc, 1000 in flight) sends N QoS 1 messages to a local
//! mosquitto, and weir's `kind = "mqtt"` source (persistent session, each message acknowledged only after the
//! ingest log's `fsync`) reads them into a `null` sink; timed from the start of publishing until weir has
//! counted all N (its `/metrics`). The reference: `mosquitto_sub -q 1 -C N` on the same topic, timed the same
//! way. Alternating (a fresh broker for each), `WEIR_BENCH_REPEAT` rounds, medians and the ratio. The broker allows 1000 messages in
//! flight per client (`max_inflight_messages`; its default of 20 bounds any acknowledging subscriber).
//! Needs `mosquitto` and `mosquitto_sub` (`WEIR_MOSQUITTO`, or on the PATH or in /usr/sbin).
//!
//!   cargo bench -p weir-benches --bench mqtt_ingest

use anyhow::{bail, Context, Result};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use weir_benches::*;

const MESSAGES: usize = 200_000;

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn mosquitto() -> PathBuf {
    std::env::var_os("WEIR_MOSQUITTO")
        .map(PathBuf::from)
        .or_else(|| {
            Path::new("/usr/sbin/mosquitto")
                .exists()
                .then(|| "/usr/sbin/mosquitto".into())
        })
        .unwrap_or_else(|| "mosquitto".into())
}

/// Killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_broker(dir: &Path) -> Result<(Running, u16)> {
    let port = free_port()?;
    let conf = dir.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\nmax_inflight_messages 1000\n"),
    )?;
    let child = Command::new(mosquitto())
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting mosquitto")?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("mosquitto did not start");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok((Running(child), port))
}

/// Publishes every line of `messages` at QoS 1 from a thread (rumqttc, 1000 in flight: `mosquitto_pub -l`
/// drops what is still queued when its input ends); the thread ends once the broker acknowledged them all.
fn publish(port: u16, messages: &Path) -> Result<std::thread::JoinHandle<Result<()>>> {
    use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
    let lines: Vec<String> = std::fs::read_to_string(messages)?.lines().map(str::to_string).collect();
    let mut options = MqttOptions::new(format!("bench-publisher-{}", rand_suffix()), "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(30)).set_inflight(1000);
    let (client, mut connection) = Client::new(options, 10_000);
    Ok(std::thread::spawn(move || -> Result<()> {
        let total = lines.len();
        let sender = std::thread::spawn(move || {
            for l in lines {
                if client
                    .publish("fleet/1/pings", QoS::AtLeastOnce, false, l.into_bytes())
                    .is_err()
                {
                    return;
                }
            }
        });
        let mut acked = 0;
        for event in connection.iter() {
            match event {
                Ok(Event::Incoming(Packet::PubAck(_))) => {
                    acked += 1;
                    if acked == total {
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => bail!("publisher: {e}"),
            }
        }
        let _ = sender.join();
        Ok(())
    }))
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Records weir's source `pings` has read so far, from its `/metrics`.
fn records_in(addr: &str) -> Result<u64> {
    let mut s = std::net::TcpStream::connect(addr)?;
    write!(s, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
    let mut page = String::new();
    s.read_to_string(&mut page)?;
    Ok(page
        .lines()
        .find(|l| l.starts_with("weir_records_in_total{") && l.contains("source=\"pings\""))
        .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .unwrap_or(0.0) as u64)
}

/// One round of weir: a fresh job (new checkpoint directory, client id and session), subscribed, then N
/// messages published; seconds until weir has read them all.
fn weir_round(weir: &Path, dir: &Path, port: u16, messages: &Path, round: usize) -> Result<f64> {
    let job = dir.join("job.toml");
    std::fs::write(
        &job,
        format!(
            r#"[job]
name = "mqtt-bench-{round}"
[job.checkpoint]
dir = "{}/ck-{round}"
interval = "10s"
[serve]
listen = "127.0.0.1:0"
[sources.pings]
kind = "mqtt"
url = "mqtt://127.0.0.1:{port}"
topics = ["fleet/+/pings"]
schema = {{ courier = "string", ts = "timestamp", lat = "float", lon = "float" }}
[sinks.discard]
kind = "null"
inputs = ["pings"]
[sinks.dead_letters]
kind = "null"
inputs = ["pings.dead_letters"]
"#,
            dir.display()
        ),
    )?;
    let (child, addr) = run_serving(weir, &job)?;
    let weir_run = Running(child);
    // Subscribed once a probe message arrives.
    let probe = dir.join("probe.jsonl");
    std::fs::write(&probe, "{\"courier\":\"probe\",\"ts\":0,\"lat\":0,\"lon\":0}\n")?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while records_in(&addr)? == 0 {
        if Instant::now() > deadline {
            bail!("weir never received the probe");
        }
        publish(port, &probe)?.join().expect("publisher")?;
        std::thread::sleep(Duration::from_millis(200));
    }
    let base = records_in(&addr)?;
    let started = Instant::now();
    let publisher = publish(port, messages)?;
    while records_in(&addr)? < base + MESSAGES as u64 {
        if started.elapsed() > Duration::from_secs(300) {
            bail!("weir did not read every message within 300 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let took = started.elapsed().as_secs_f64();
    publisher.join().expect("publisher")?;
    drop(weir_run);
    Ok(took)
}

/// One round of `mosquitto_sub`: seconds from the start of publishing until it has received N messages.
fn sub_round(port: u16, messages: &Path) -> Result<f64> {
    let mut sub = Command::new("mosquitto_sub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-t",
            "fleet/+/pings",
            "-q",
            "1",
        ])
        .args(["-C", &MESSAGES.to_string()])
        .stdout(Stdio::null())
        .spawn()?;
    std::thread::sleep(Duration::from_millis(500)); // subscribed
    let started = Instant::now();
    let publisher = publish(port, messages)?;
    sub.wait()?;
    let took = started.elapsed().as_secs_f64();
    publisher.join().expect("publisher")?;
    Ok(took)
}

fn main() -> Result<()> {
    let weir = build_weir()?;
    let repeat = repeats();
    let dir = std::env::temp_dir().join(format!("weir-bench-mqtt-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let messages = dir.join("messages.jsonl");
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&messages)?);
        for i in 0..MESSAGES {
            writeln!(
                out,
                r#"{{"courier":"c{}","ts":{},"lat":{:.5},"lon":{:.5}}}"#,
                i % 1000,
                1_795_219_200_000 + i as i64 * 10,
                52.0 + (i % 997) as f64 / 1e4,
                13.0 + (i % 991) as f64 / 1e4
            )?;
        }
    }
    let (mut weir_s, mut sub_s) = (Vec::new(), Vec::new());
    for round in 0..repeat {
        // A fresh broker for each measurement: no session of an earlier one queues messages.
        let w = {
            let (_broker, port) = start_broker(&dir)?;
            weir_round(&weir, &dir, port, &messages, round)?
        };
        let s = {
            let (_broker, port) = start_broker(&dir)?;
            sub_round(port, &messages)?
        };
        println!(
            "round {round}: weir {w:.2} s ({:.0} msg/s), mosquitto_sub {s:.2} s ({:.0} msg/s)",
            MESSAGES as f64 / w,
            MESSAGES as f64 / s
        );
        weir_s.push(w);
        sub_s.push(s);
    }
    weir_s.sort_by(f64::total_cmp);
    sub_s.sort_by(f64::total_cmp);
    let (w, s) = (weir_s[repeat / 2], sub_s[repeat / 2]);
    println!(
        "median of {repeat}: {MESSAGES} QoS 1 messages end to end: weir {:.0} msg/s, mosquitto_sub {:.0} msg/s; weir / \
         mosquitto_sub wall time {:.2}",
        MESSAGES as f64 / w,
        MESSAGES as f64 / s,
        w / s
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
