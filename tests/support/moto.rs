//! A real S3-compatible server for the object-storage tests: the `moto` package's server mode (`moto_server`,
//! found through `WEIR_MOTO`, which tests/run.sh sets), started on a free 127.0.0.1 port and killed when
//! dropped; buckets are created and read back with `boto3` (which moto brings), an independent client.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const NEEDS_MOTO: &str = "needs moto_server: set WEIR_MOTO to its path (tests/run.sh does)";

pub struct Moto {
    child: Child,
    pub port: u16,
}

impl Moto {
    pub fn start(dir: &Path) -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::fs::File::create(dir.join("moto.log")).unwrap();
        let child = Command::new(std::env::var("WEIR_MOTO").expect(NEEDS_MOTO))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start moto_server");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Moto { child, port }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The environment a client of this server needs (weir's object_store and boto3 read the same names).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_ACCESS_KEY_ID", "weir-test".into()),
            ("AWS_SECRET_ACCESS_KEY", "weir-test-secret".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_DEFAULT_REGION", "us-east-1".into()),
        ]
    }

    /// Sets this server's environment on `cmd`.
    pub fn apply(&self, cmd: &mut Command) {
        for (k, v) in self.env() {
            cmd.env(k, v);
        }
    }

    /// Runs a Python script (with boto3 and this server's environment) and gives its standard output.
    pub fn python(&self, script: &str, args: &[&str]) -> String {
        let mut cmd = Command::new("python3");
        cmd.arg("-c").arg(script).args(args);
        self.apply(&mut cmd);
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn create_bucket(&self, name: &str) {
        self.python(
            "import boto3, sys; boto3.client('s3').create_bucket(Bucket=sys.argv[1])",
            &[name],
        );
    }

    /// Downloads every object under `s3://bucket/prefix/` into `to` (keys relative to the prefix).
    pub fn download(&self, bucket: &str, prefix: &str, to: &Path) -> Vec<PathBuf> {
        let script = r#"
import boto3, os, sys
s3 = boto3.client("s3")
bucket, prefix, to = sys.argv[1], sys.argv[2].rstrip("/") + "/", sys.argv[3]
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
    for o in page.get("Contents", []):
        path = os.path.join(to, o["Key"][len(prefix):])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        s3.download_file(bucket, o["Key"], path)
        print(path)
"#;
        self.python(script, &[bucket, prefix, &to.to_string_lossy()])
            .lines()
            .map(PathBuf::from)
            .collect()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
