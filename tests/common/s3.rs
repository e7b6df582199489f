//! An S3-compatible server for the backup tests: moto's server from the venv that
//! `tests/s3-server.sh install` makes (target/s3-venv, pinned by tests/s3-requirements.txt),
//! one per test, on 127.0.0.1 with a free port, path-style, region [`REGION`], plain HTTP.
//!
//! Authentication is on: [`S3Server::start`] creates an IAM user allowed `s3:*` and its access
//! key through moto's IAM API while moto still accepts unsigned requests (its default), then
//! switches signature checking on for every later request (moto's `/moto-api/reset-auth`, the
//! runtime form of its `INITIAL_NO_AUTH_ACTION_COUNT`) and checks that a wrong secret key is
//! refused. From then on only requests signed with [`S3Server::access_key`] and
//! [`S3Server::secret_key`] succeed: a wrong secret gets 403 `SignatureDoesNotMatch`, an
//! unknown key id 403 `InvalidAccessKeyId`.
//!
//! The assertion helpers (`create_bucket`, `put`, `get`, `list`, `uploads`) run boto3 (a
//! dependency of moto) with the venv's python, signed with that key.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The region the server signs with (moto's default; any region works if client and server
/// agree, but a mismatch is refused).
pub const REGION: &str = "us-east-1";

/// The bucket [`S3Server::start`] creates.
pub const BUCKET: &str = "nxinfra-test";

/// How long the server gets to answer after it is launched.
const START_TIMEOUT: Duration = Duration::from_secs(20);

pub struct S3Server {
    /// `http://127.0.0.1:PORT`, for `AmazonS3Builder::with_endpoint` (with `with_allow_http`).
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    /// The bucket created at start ([`BUCKET`]).
    pub bucket: String,
    child: Child,
    /// The server's stdout and stderr, shown when it fails.
    log: tempfile::NamedTempFile,
}

/// The venv `tests/s3-server.sh install` makes (`$NXINFRA_S3_VENV` if set, as for the script).
fn venv() -> PathBuf {
    match std::env::var_os("NXINFRA_S3_VENV").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/target/s3-venv")),
    }
}

/// Whether the server is installed: the venv's `moto_server` and python, and the stamp the
/// script writes once the install is complete.
pub fn available() -> bool {
    let venv = venv();
    venv.join("bin/moto_server").is_file()
        && venv.join("bin/python").is_file()
        && venv.join(".nxinfra-requirements.txt").is_file()
}

/// A port no one listens on now (the OS's pick for port 0; it may be taken again before use).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// Whether an HTTP server on `port` answers `GET /moto-api/` with 200.
fn answers(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 16];
    let mut got = 0;
    while got < head.len() {
        match stream.read(&mut head[got..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    let head = String::from_utf8_lossy(&head[..got]);
    head.starts_with("HTTP/") && head.split(' ').nth(1) == Some("200")
}

/// The tail of the server's log, for failure messages.
fn log_tail(log: &tempfile::NamedTempFile) -> String {
    let text = std::fs::read_to_string(log.path()).unwrap_or_default();
    let start = text.len().saturating_sub(4000);
    let start = (start..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    text[start..].to_string()
}

/// Creates the IAM user, its policy and access key (unsigned: moto still accepts that), turns
/// authentication on, and checks that a wrong secret is refused. Prints `KEY_ID SECRET`.
const SETUP: &str = r#"
import json, os, sys, urllib.request
import boto3, botocore.exceptions
from botocore.config import Config

endpoint = os.environ["NXINFRA_S3_ENDPOINT"]
config = Config(retries={"max_attempts": 1})
iam = boto3.client("iam", endpoint_url=endpoint, config=config,
                   aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
iam.create_user(UserName="nxinfra-test")
iam.put_user_policy(UserName="nxinfra-test", PolicyName="s3", PolicyDocument=json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
}))
key = iam.create_access_key(UserName="nxinfra-test")["AccessKey"]
# From now on every request must be signed with a key moto's IAM knows (the body is the number
# of unsigned requests still allowed; text/plain so that it is not read as a form).
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
opener.open(urllib.request.Request(endpoint + "/moto-api/reset-auth", data=b"0",
                                   headers={"Content-Type": "text/plain"}, method="POST")).read()
wrong = boto3.client("s3", endpoint_url=endpoint, config=config,
                     aws_access_key_id=key["AccessKeyId"], aws_secret_access_key="wrong")
try:
    wrong.list_buckets()
    sys.exit("moto accepted a wrong secret key: authentication is not on")
except botocore.exceptions.ClientError as e:
    if e.response["Error"]["Code"] != "SignatureDoesNotMatch":
        raise
print(key["AccessKeyId"], key["SecretAccessKey"])
"#;

/// What every helper starts with: an S3 client signed with the server's key (from the
/// environment [`S3Server::python`] sets), path-style, no retries.
const PRELUDE: &str = r#"
import json, os, sys
import boto3
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url=os.environ["NXINFRA_S3_ENDPOINT"],
                  config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
bucket = sys.argv[1] if len(sys.argv) > 1 else None
"#;

impl S3Server {
    /// A running server with authentication on and [`BUCKET`] created, or `None` (test
    /// skipped) when the venv is not installed. Under `CI=true` a missing venv fails the test:
    /// `make test` installs it (tests/prereqs.sh). A server that is installed but does not
    /// start fails the test everywhere.
    pub fn start() -> Option<S3Server> {
        if !available() {
            let message = format!(
                "the S3 test server is not installed ({} missing or incomplete): run \
                 `tests/s3-server.sh install` (make test does)",
                venv().display()
            );
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{message}");
            }
            eprintln!("SKIPPED: {message}");
            return None;
        }
        // The free port may be taken between our probe and moto's bind: try a few.
        let mut attempts = 0;
        let (child, log, port) = loop {
            attempts += 1;
            let port = free_port();
            match Self::launch(port) {
                Ok((child, log)) => break (child, log, port),
                Err(log) if attempts < 3 && log_tail(&log).contains("Address already in use") => {
                    continue;
                }
                Err(log) => panic!(
                    "moto_server on 127.0.0.1:{port} did not start:\n{}",
                    log_tail(&log)
                ),
            }
        };
        let mut server = S3Server {
            endpoint: format!("http://127.0.0.1:{port}"),
            access_key: String::new(),
            secret_key: String::new(),
            bucket: BUCKET.to_string(),
            child,
            log,
        };
        let out = server.python(SETUP, &[], None);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        let mut words = stdout.split_whitespace();
        match (out.status.success(), words.next(), words.next()) {
            (true, Some(key), Some(secret)) => {
                server.access_key = key.to_string();
                server.secret_key = secret.to_string();
            }
            _ => panic!(
                "setting up authentication on moto failed: {stderr}\nserver log:\n{}",
                log_tail(&server.log)
            ),
        }
        server.create_bucket(BUCKET);
        Some(server)
    }

    /// Launches moto_server on `port` and waits until it answers; on failure (it exited, or
    /// did not answer within [`START_TIMEOUT`]) it is killed and its log returned.
    fn launch(port: u16) -> Result<(Child, tempfile::NamedTempFile), tempfile::NamedTempFile> {
        let log = tempfile::NamedTempFile::new().expect("server log file");
        let mut child = Command::new(venv().join("bin/moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            // Unsigned requests allowed until start() turns authentication on.
            .env_remove("INITIAL_NO_AUTH_ACTION_COUNT")
            .stdin(Stdio::null())
            .stdout(log.reopen().expect("server log"))
            .stderr(log.reopen().expect("server log"))
            .spawn()
            .expect("spawn moto_server");
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if answers(port) {
                return Ok((child, log));
            }
            let exited = child.try_wait().ok().flatten().is_some();
            if exited || Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                if !exited {
                    let _ = writeln!(
                        log.as_file(),
                        "(no answer within {}s)",
                        START_TIMEOUT.as_secs()
                    );
                }
                return Err(log);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `python -c CODE ARGS` in the venv, with `input` on stdin, the endpoint in
    /// `NXINFRA_S3_ENDPOINT` and the server's key as the AWS credentials (no config files, no
    /// proxy for 127.0.0.1).
    fn python(&self, code: &str, args: &[&str], input: Option<&[u8]>) -> Output {
        let mut cmd = Command::new(venv().join("bin/python"));
        cmd.arg("-c")
            .arg(code)
            .args(args)
            .env("NXINFRA_S3_ENDPOINT", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", &self.access_key)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret_key)
            .env("AWS_DEFAULT_REGION", REGION)
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("AWS_ENDPOINT_URL_S3")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_REQUEST_CHECKSUM_CALCULATION", "when_required")
            .env("AWS_RESPONSE_CHECKSUM_VALIDATION", "when_required")
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("no_proxy", "127.0.0.1,localhost")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        match input {
            Some(input) => {
                cmd.stdin(Stdio::piped());
                let mut child = cmd.spawn().expect("spawn the venv's python");
                let mut stdin = child.stdin.take().expect("stdin");
                // Written from a thread: a large input must not deadlock against full pipes.
                let input = input.to_vec();
                let writer = std::thread::spawn(move || stdin.write_all(&input));
                let out = child.wait_with_output().expect("wait for python");
                writer
                    .join()
                    .expect("stdin writer")
                    .expect("write python's stdin");
                out
            }
            None => cmd
                .stdin(Stdio::null())
                .output()
                .expect("run the venv's python"),
        }
    }

    /// Runs a helper (after [`PRELUDE`]); it must succeed. Its stdout.
    fn helper(&self, what: &str, code: &str, args: &[&str], input: Option<&[u8]>) -> Vec<u8> {
        let out = self.python(&format!("{PRELUDE}{code}"), args, input);
        assert!(
            out.status.success(),
            "S3 {what} {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    pub fn create_bucket(&self, name: &str) {
        self.helper(
            "create_bucket",
            "s3.create_bucket(Bucket=bucket)",
            &[name],
            None,
        );
    }

    /// Every object under `prefix` (a plain string prefix, "" for all), sorted by key:
    /// (key, size).
    pub fn list(&self, bucket: &str, prefix: &str) -> Vec<(String, u64)> {
        let out = self.helper(
            "list",
            r#"
found = []
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=sys.argv[2]):
    found += [[o["Key"], o["Size"]] for o in page.get("Contents", [])]
print(json.dumps(sorted(found)))
"#,
            &[bucket, prefix],
            None,
        );
        serde_json::from_slice(&out).expect("list output")
    }

    /// The bytes of object `key`; fails the test if it does not exist.
    pub fn get(&self, bucket: &str, key: &str) -> Vec<u8> {
        self.helper(
            "get",
            r#"sys.stdout.buffer.write(s3.get_object(Bucket=bucket, Key=sys.argv[2])["Body"].read())"#,
            &[bucket, key],
            None,
        )
    }

    pub fn put(&self, bucket: &str, key: &str, bytes: &[u8]) {
        self.helper(
            "put",
            r#"s3.put_object(Bucket=bucket, Key=sys.argv[2], Body=sys.stdin.buffer.read())"#,
            &[bucket, key],
            Some(bytes),
        );
    }

    /// The keys of the multipart uploads in progress in `bucket` (neither completed nor
    /// aborted), sorted: an interrupted or aborted upload must leave none behind.
    pub fn uploads(&self, bucket: &str) -> Vec<String> {
        let out = self.helper(
            "uploads",
            r#"
found = []
for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
    found += [u["Key"] for u in page.get("Uploads", [])]
print(json.dumps(sorted(found)))
"#,
            &[bucket],
            None,
        );
        serde_json::from_slice(&out).expect("uploads output")
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
