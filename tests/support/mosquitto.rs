//! A real MQTT broker for the tests: Debian's `mosquitto` (found through `WEIR_MOSQUITTO`, which tests/run.sh
//! sets), started on a free 127.0.0.1 port with its own config in a temp dir and killed when dropped;
//! publishing goes through `mosquitto_pub` beside it.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

pub const NEEDS_MOSQUITTO: &str = "needs mosquitto: set WEIR_MOSQUITTO=/usr/sbin/mosquitto (tests/run.sh does)";

fn binary() -> PathBuf {
    PathBuf::from(std::env::var("WEIR_MOSQUITTO").expect(NEEDS_MOSQUITTO))
}

/// `mosquitto_pub`: beside `mosquitto` or on the PATH.
pub fn mosquitto_pub() -> PathBuf {
    std::env::var("WEIR_MOSQUITTO_PUB").map_or_else(|_| PathBuf::from("mosquitto_pub"), PathBuf::from)
}

pub struct Mosquitto {
    child: Child,
    pub port: u16,
}

impl Mosquitto {
    /// Starts a broker that queues any number of QoS 1/2 messages for offline persistent sessions.
    pub fn start(dir: &Path) -> Mosquitto {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let conf = dir.join("mosquitto.conf");
        std::fs::write(
            &conf,
            format!(
                "listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n\
                 max_inflight_messages 200\nlog_dest file {}\n",
                dir.join("mosquitto.log").display()
            ),
        )
        .unwrap();
        let child = Command::new(binary())
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "mosquitto did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Mosquitto { child, port }
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// A publisher to this broker: see [`publisher`].
    pub fn publisher(&self, topic: &str, qos: u8) -> Publisher {
        publisher(self.port, topic, qos)
    }
}

/// A `mosquitto_pub -l` publishing each line written to its stdin to `topic` at QoS `qos`, on the broker at
/// 127.0.0.1:`port`.
pub fn publisher(port: u16, topic: &str, qos: u8) -> Publisher {
    let mut child = Command::new(mosquitto_pub())
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-t",
            topic,
            "-q",
            &qos.to_string(),
            "-l",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start mosquitto_pub");
    let stdin = child.stdin.take();
    Publisher { child, stdin }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `mosquitto_pub -l`.
pub struct Publisher {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Publisher {
    pub fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("open");
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// Closes its input and waits until it has published everything (QoS 1/2: acknowledged by the broker).
    pub fn finish(mut self) {
        drop(self.stdin.take());
        assert!(self.child.wait().unwrap().success(), "mosquitto_pub failed");
    }
}
