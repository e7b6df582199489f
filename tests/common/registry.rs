//! A minimal image registry for the pull tests: the read side of the Docker Registry HTTP API
//! v2 (`/v2/`, manifests, blobs), plain HTTP, serving images made from the testbed's busybox
//! rootfs. The testbed's engines trust it (`insecure-registries` in their daemon.json), and
//! it listens on the testbed bridge, the one address every host's engine reaches.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};

use sha2::{Digest, Sha256};

/// The registry's address on the testbed bridge (testbed.sh trusts it).
pub const ADDRESS: &str = "10.200.0.1:5000";

#[derive(Default)]
struct Content {
    /// (repository, tag) → manifest digest.
    tags: BTreeMap<(String, String), String>,
    /// digest → (media type, bytes): manifests, configs, layers.
    blobs: BTreeMap<String, (String, Vec<u8>)>,
    /// Requests served, as `METHOD PATH`.
    log: Vec<String>,
    /// While set, a layer's download stops half way: the registry stops answering mid-pull.
    stall: bool,
    /// Downloads stopped so.
    stalled: usize,
}

pub struct Registry {
    content: Arc<(Mutex<Content>, Condvar)>,
}

fn digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

impl Registry {
    /// Starts serving on [`ADDRESS`] in a background thread, for the rest of the test process.
    pub fn start() -> Registry {
        let listener = TcpListener::bind(ADDRESS).expect("bind the registry on the bridge");
        let content = Arc::new((Mutex::new(Content::default()), Condvar::new()));
        let shared = content.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let content = shared.clone();
                std::thread::spawn(move || serve(stream, &content));
            }
        });
        Registry { content }
    }

    /// Publishes `repository:tag`: the rootfs tar as its one layer, `env` in its config (a
    /// different `env` makes a different image id). Returns the image id (config digest).
    pub fn publish(&self, repository: &str, tag: &str, rootfs: &Path, env: &[&str]) -> String {
        self.publish_padded(repository, tag, rootfs, env, 0)
    }

    /// [`Registry::publish`] with `pad` more blocks of zeros at the end of the layer: the
    /// same files in a layer of its own (another digest), which a host has never pulled.
    pub fn publish_padded(
        &self,
        repository: &str,
        tag: &str,
        rootfs: &Path,
        env: &[&str],
        pad: usize,
    ) -> String {
        let mut layer = std::fs::read(rootfs).expect("read the rootfs tar");
        layer.resize(layer.len() + pad * 512, 0);
        let layer_digest = digest(&layer);
        let config = serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "config": {"Env": env, "Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
        })
        .to_string()
        .into_bytes();
        let config_digest = digest(&config);
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": config.len(),
                "digest": config_digest,
            },
            "layers": [{
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar",
                "size": layer.len(),
                "digest": layer_digest,
            }],
        })
        .to_string()
        .into_bytes();
        let manifest_digest = digest(&manifest);
        let mut c = self.content.0.lock().expect("registry lock");
        c.blobs.insert(
            layer_digest,
            ("application/vnd.docker.image.rootfs.diff.tar".into(), layer),
        );
        c.blobs.insert(
            config_digest.clone(),
            (
                "application/vnd.docker.container.image.v1+json".into(),
                config,
            ),
        );
        c.blobs.insert(
            manifest_digest.clone(),
            (
                "application/vnd.docker.distribution.manifest.v2+json".into(),
                manifest,
            ),
        );
        c.tags
            .insert((repository.into(), tag.into()), manifest_digest);
        config_digest
    }

    /// How many manifest requests for `repository` were served (one per pull).
    pub fn manifest_requests(&self, repository: &str) -> usize {
        let prefix = format!("/v2/{repository}/manifests/");
        self.content
            .0
            .lock()
            .expect("registry lock")
            .log
            .iter()
            .filter(|l| l.split(' ').nth(1).is_some_and(|p| p.starts_with(&prefix)))
            .count()
    }

    /// Stops (`true`) or resumes every layer download half way.
    pub fn stall(&self, on: bool) {
        let (content, resumed) = &*self.content;
        content.lock().expect("registry lock").stall = on;
        resumed.notify_all();
    }

    /// How many layer downloads were stopped half way so far.
    pub fn stalled(&self) -> usize {
        self.content.0.lock().expect("registry lock").stalled
    }
}

fn serve(stream: TcpStream, shared: &(Mutex<Content>, Condvar)) {
    let (content, resumed) = shared;
    let mut reader = BufReader::new(stream.try_clone().expect("clone the stream"));
    let mut writer = stream;
    loop {
        let mut request = String::new();
        if reader.read_line(&mut request).unwrap_or(0) == 0 {
            return;
        }
        // Headers: none is needed.
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
        }
        let mut parts = request.split_whitespace();
        let (method, path) = (
            parts.next().unwrap_or_default().to_string(),
            parts.next().unwrap_or_default().to_string(),
        );
        let found = {
            let mut c = content.lock().expect("registry lock");
            c.log.push(format!("{method} {path}"));
            lookup(&c, &path)
        };
        let (status, media, body) = match found {
            Some((media, body)) => ("200 OK", media, body),
            None => (
                "404 Not Found",
                "application/json".to_string(),
                br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"unknown"}]}"#.to_vec(),
            ),
        };
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {media}\r\nContent-Length: {}\r\n\
             Docker-Distribution-API-Version: registry/2.0\r\nDocker-Content-Digest: {}\r\n\r\n",
            body.len(),
            digest(&body)
        );
        let half = if method != "HEAD" && path.contains("/blobs/") && body.len() > 1024 {
            body.len() / 2
        } else {
            body.len()
        };
        let sent = writer.write_all(head.as_bytes()).and_then(|_| {
            if method == "HEAD" {
                return Ok(());
            }
            writer.write_all(&body[..half])?;
            writer.flush()?;
            let mut c = content.lock().expect("registry lock");
            if c.stall && half < body.len() {
                c.stalled += 1;
                while c.stall {
                    c = resumed.wait(c).expect("registry lock");
                }
            }
            drop(c);
            writer.write_all(&body[half..])
        });
        if sent.is_err() {
            return;
        }
    }
}

fn lookup(c: &Content, path: &str) -> Option<(String, Vec<u8>)> {
    if path == "/v2/" {
        return Some(("application/json".into(), b"{}".to_vec()));
    }
    let rest = path.strip_prefix("/v2/")?;
    if let Some((repository, reference)) = rest.rsplit_once("/manifests/") {
        let digest = if reference.starts_with("sha256:") {
            reference.to_string()
        } else {
            c.tags
                .get(&(repository.to_string(), reference.to_string()))?
                .clone()
        };
        return c.blobs.get(&digest).cloned();
    }
    let (_, digest) = rest.rsplit_once("/blobs/")?;
    c.blobs.get(digest).cloned()
}
