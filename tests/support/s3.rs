//! A real S3-compatible server (s3s-fs) on 127.0.0.1 for the Rust tests,
//! started by the same code as the Python tests' (tests/runtime/harness.py,
//! `S3Server`), so there is one way to start it: `harness.py serve-s3`
//! prints the server's address and keys and stops it when its stdin closes.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub struct S3Server {
    /// The harness process; its stdin closing stops the server.
    harness: Child,
    pub url: String,
    pub access_key: String,
    pub secret_key: String,
    pub region: String,
    /// The server's storage: BUCKET/KEY is a file under it.
    pub root: tempfile::TempDir,
}

impl S3Server {
    /// Starts s3s-fs with empty buckets `buckets`.
    pub fn start(buckets: &[&str]) -> S3Server {
        let root = tempfile::tempdir().unwrap();
        let store = root.path().join("store");
        for bucket in buckets {
            std::fs::create_dir_all(store.join(bucket)).unwrap();
        }
        let mut harness = Command::new("python3")
            .arg(super::repo().join("tests/runtime/harness.py"))
            .arg("serve-s3")
            .arg(super::s3s_fs())
            .arg(&store)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs harness.py");
        let mut line = String::new();
        BufReader::new(harness.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let info: serde_json::Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("harness.py serve-s3 did not start s3s-fs ({e}): {line}"));
        let field = |name: &str| info[name].as_str().unwrap().to_string();
        S3Server {
            url: field("url"),
            access_key: field("access_key"),
            secret_key: field("secret_key"),
            region: field("region"),
            harness,
            root,
        }
    }

    /// Where the server keeps `bucket`'s object `key`.
    pub fn object_path(&self, bucket: &str, key: &str) -> std::path::PathBuf {
        self.root.path().join("store").join(bucket).join(key)
    }

    /// What a process needs to reach this server with the AWS SDK.
    pub fn client_env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ACCESS_KEY_ID", &self.access_key),
            ("AWS_SECRET_ACCESS_KEY", &self.secret_key),
            ("AWS_REGION", &self.region),
            ("AWS_ENDPOINT_URL_S3", &self.url),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        drop(self.harness.stdin.take());
        let _ = self.harness.wait();
    }
}
