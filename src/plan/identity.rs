//! What a container is, as hashes: one per field of its normalised spec, the image id it runs,
//! and one per rendered file or folder it bind-mounts. Their digest (`nxinfra.hash`) says
//! whether anything changed; the parts say what (the plan's reasons).
//!
//! Stored on the container as labels, so that the next apply compares without reading
//! anything else: `nxinfra.hash`, `nxinfra.fields` (`command=1a2b3c4d,environment=...`),
//! `nxinfra.mounts` (`proxy/config=5e6f7a8b,...`), `nxinfra.image` (the image id).
//!
//! Every object nxinfra creates also says whose it is: `nxinfra.managed=true` and
//! `nxinfra.fleet=<fleet>` (the repository's `nxinfra_fleet`), so that fleets sharing an
//! engine never compare or remove each other's objects ([`owner`]).

use std::collections::BTreeMap;

use crate::model::manifest::sha256_hex;
use crate::model::tree::OutFile;

use crate::model::compose::{Network, Service};

pub const MANAGED: &str = "nxinfra.managed";
pub const SERVICE: &str = "nxinfra.service";
pub const HASH: &str = "nxinfra.hash";
pub const FIELDS: &str = "nxinfra.fields";
pub const MOUNTS: &str = "nxinfra.mounts";
pub const IMAGE: &str = "nxinfra.image";
pub const FLEET: &str = "nxinfra.fleet";
/// On a restore drill's throwaway container: the backup's name.
pub const DRILL: &str = "nxinfra.drill";
/// On a cluster's objects (its swarm, overlay networks, configs, secrets, services): the
/// cluster's name. A host's own apply never compares or removes them.
pub const CLUSTER: &str = "nxinfra.cluster";

/// Whether an engine object with these labels is a cluster's (or a swarm task's container),
/// not a host's own.
pub fn in_cluster(labels: &BTreeMap<String, String>) -> bool {
    labels.contains_key(CLUSTER) || labels.contains_key("com.docker.swarm.service.id")
}

/// Whose an object on the engine is, from its `nxinfra.managed` and `nxinfra.fleet` labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner<'a> {
    /// Made by nxinfra for this fleet.
    Ours,
    /// Made by nxinfra before objects carried their fleet: whose, nobody can tell.
    Unlabelled,
    /// Made by nxinfra for another fleet (another repository applied to the same engine).
    Fleet(&'a str),
    /// Not made by nxinfra.
    Foreign,
}

/// Whose container `c` is, for the fleet `fleet`.
pub fn container_owner<'a>(c: &'a crate::model::observed::Container, fleet: &str) -> Owner<'a> {
    owner(|k| c.labels.get(k).map(String::as_str), fleet)
}

/// Whose an object with these labels is, for the fleet `fleet`.
pub fn owner<'a>(label: impl Fn(&str) -> Option<&'a str>, fleet: &str) -> Owner<'a> {
    if label(MANAGED) != Some("true") {
        return Owner::Foreign;
    }
    match label(FLEET) {
        None => Owner::Unlabelled,
        Some(f) if f == fleet => Owner::Ours,
        Some(f) => Owner::Fleet(f),
    }
}

/// The identity of a container, as it is or as it should be.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// Digest of everything below (16 hex digits).
    pub hash: String,
    /// Field of the spec → short hash; `image_id` included.
    pub fields: BTreeMap<String, String>,
    /// Mounted rendered path (relative to the base dir) → short hash of its content.
    pub mounts: BTreeMap<String, String>,
}

impl Identity {
    /// The desired identity of `service`, running image `image_id`, with `tree` the host's
    /// rendered files and `base_dir` where they land.
    pub fn desired<F: Digested>(
        service: &Service,
        image_id: &str,
        tree: &BTreeMap<String, F>,
        base_dir: &str,
    ) -> Result<Identity, serde_json::Error> {
        let spec = serde_json::to_value(&service.spec)?;
        let mut fields = BTreeMap::new();
        if let serde_json::Value::Object(map) = spec {
            for (key, value) in map {
                fields.insert(key, short(&serde_json::to_vec(&value)?));
            }
        }
        fields.insert("image_id".into(), short(image_id.as_bytes()));
        let base = std::path::Path::new(base_dir);
        let mut mounts = BTreeMap::new();
        for source in service.rendered_sources(base) {
            let rel = source.to_string_lossy().into_owned();
            if let Some(h) = content_hash(&rel, tree) {
                mounts.insert(rel, h);
            }
        }
        Ok(Identity::from_parts(fields, mounts))
    }

    pub fn from_parts(
        fields: BTreeMap<String, String>,
        mounts: BTreeMap<String, String>,
    ) -> Identity {
        let text = format!("{}\n{}", encode(&fields), encode(&mounts));
        Identity {
            hash: sha256_hex(text.as_bytes())[..16].to_string(),
            fields,
            mounts,
        }
    }

    /// The identity recorded in a container's labels; `None` if they are missing or damaged
    /// (the container is then recreated).
    pub fn from_labels(labels: &BTreeMap<String, String>) -> Option<Identity> {
        let fields = decode(labels.get(FIELDS)?)?;
        let mounts = decode(labels.get(MOUNTS)?)?;
        let id = Identity::from_parts(fields, mounts);
        (labels.get(HASH) == Some(&id.hash)).then_some(id)
    }

    /// The labels nxinfra puts on the container of `service`.
    pub fn labels(&self, fleet: &str, service: &str, image_id: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            (MANAGED.to_string(), "true".to_string()),
            (FLEET.to_string(), fleet.to_string()),
            (SERVICE.to_string(), service.to_string()),
            (HASH.to_string(), self.hash.clone()),
            (FIELDS.to_string(), encode(&self.fields)),
            (MOUNTS.to_string(), encode(&self.mounts)),
            (IMAGE.to_string(), image_id.to_string()),
        ])
    }

    /// The spec fields (and `image_id`) that differ from `other`.
    pub fn changed_fields(&self, other: &Identity) -> Vec<String> {
        changed(&self.fields, &other.fields)
    }

    /// The mounted paths whose content differs from `other`.
    pub fn changed_mounts(&self, other: &Identity) -> Vec<String> {
        changed(&self.mounts, &other.mounts)
    }
}

/// A network's settings as short hashes, one per field (`driver`, `enable_ipv6`, `ipam`, and
/// `driver_opts.KEY` per driver option): what nxinfra created it with, kept in its labels.
/// Engines report settings their own way (Podman keeps no Docker driver options), so a network
/// nxinfra created is compared by these, not by what the engine reports.
pub fn network_fields(net: &Network) -> BTreeMap<String, String> {
    let mut fields = BTreeMap::from([
        ("driver".to_string(), json_short(&net.driver)),
        ("enable_ipv6".to_string(), json_short(&net.enable_ipv6)),
        ("ipam".to_string(), json_short(&net.ipam)),
    ]);
    for (key, value) in &net.driver_opts {
        fields.insert(format!("driver_opts.{key}"), short(value.as_bytes()));
    }
    fields
}

/// Short hash of `value`'s JSON. Serialising strings, booleans and plain structs cannot fail.
fn json_short<T: serde::Serialize>(value: &T) -> String {
    short(&serde_json::to_vec(value).unwrap_or_default())
}

/// The labels nxinfra puts on a network it creates.
pub fn network_labels(fleet: &str, net: &Network) -> BTreeMap<String, String> {
    let fields = network_fields(net);
    BTreeMap::from([
        (MANAGED.to_string(), "true".to_string()),
        (FLEET.to_string(), fleet.to_string()),
        (HASH.to_string(), fields_hash(&fields)),
        (FIELDS.to_string(), encode(&fields)),
    ])
}

/// The fields a network nxinfra created was created with, from its labels; `None` when they
/// are missing or damaged (a network made before nxinfra labelled them).
pub fn network_fields_from_labels(
    labels: &BTreeMap<String, String>,
) -> Option<BTreeMap<String, String>> {
    let fields = decode(labels.get(FIELDS)?)?;
    (labels.get(HASH) == Some(&fields_hash(&fields))).then_some(fields)
}

fn fields_hash(fields: &BTreeMap<String, String>) -> String {
    sha256_hex(encode(fields).as_bytes())[..16].to_string()
}

/// The keys whose values differ between `a` and `b`, or that only one has.
pub fn changed(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> Vec<String> {
    let mut keys: Vec<String> = a
        .iter()
        .filter(|(k, v)| b.get(*k) != Some(v))
        .map(|(k, _)| k.clone())
        .chain(b.keys().filter(|k| !a.contains_key(*k)).cloned())
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// Short hash of the rendered files at `rel` (a file, or every file under a folder; the
/// empty path is the whole tree): their paths, modes and contents. `None` when nothing is
/// rendered there (a data folder the container owns).
pub fn content_hash<F: Digested>(rel: &str, tree: &BTreeMap<String, F>) -> Option<String> {
    let prefix = if rel.is_empty() {
        String::new()
    } else {
        format!("{rel}/")
    };
    let mut text = Vec::new();
    for (path, file) in tree {
        if path == rel || path.starts_with(&prefix) {
            text.extend_from_slice(path.as_bytes());
            text.extend_from_slice(format!("\0{:o}\0{}\n", file.mode(), file.sha256()).as_bytes());
        }
    }
    (!text.is_empty()).then(|| short(&text))
}

/// A file as a container's identity sees it: its mode and content's sha256. A rendered file
/// ([`OutFile`]) and a manifest's entry of the same file give the same identity.
pub trait Digested {
    fn mode(&self) -> u32;
    /// Lower-case hex sha256 of the content.
    fn sha256(&self) -> std::borrow::Cow<'_, str>;
}

impl Digested for OutFile {
    fn mode(&self) -> u32 {
        self.mode
    }
    fn sha256(&self) -> std::borrow::Cow<'_, str> {
        sha256_hex(&self.data).into()
    }
}

impl Digested for crate::model::manifest::Entry {
    fn mode(&self) -> u32 {
        self.mode
    }
    fn sha256(&self) -> std::borrow::Cow<'_, str> {
        self.sha256.as_str().into()
    }
}

fn short(data: &[u8]) -> String {
    sha256_hex(data)[..8].to_string()
}

/// `k=v,k=v`, with `%`, `,`, `=`, whitespace and control characters percent-encoded.
pub fn encode(map: &BTreeMap<String, String>) -> String {
    let esc = |s: &str| {
        let mut out = String::with_capacity(s.len());
        for c in s.chars() {
            if c == '%' || c == ',' || c == '=' || c.is_whitespace() || c.is_control() {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("%{b:02X}"));
                }
            } else {
                out.push(c);
            }
        }
        out
    };
    map.iter()
        .map(|(k, v)| format!("{}={}", esc(k), esc(v)))
        .collect::<Vec<_>>()
        .join(",")
}

/// The inverse of [`encode`]; `None` for anything it would not have written.
pub fn decode(text: &str) -> Option<BTreeMap<String, String>> {
    let unesc = |s: &str| -> Option<String> {
        let mut bytes = Vec::with_capacity(s.len());
        let mut it = s.bytes();
        while let Some(b) = it.next() {
            if b == b'%' {
                let hi = (it.next()? as char).to_digit(16)?;
                let lo = (it.next()? as char).to_digit(16)?;
                bytes.push((hi * 16 + lo) as u8);
            } else {
                bytes.push(b);
            }
        }
        String::from_utf8(bytes).ok()
    };
    let mut out = BTreeMap::new();
    if text.is_empty() {
        return Some(out);
    }
    for pair in text.split(',') {
        let (k, v) = pair.split_once('=')?;
        out.insert(unesc(k)?, unesc(v)?);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(yaml: &str) -> Service {
        let c = crate::model::compose::parse(std::path::Path::new("compose.yml"), yaml).unwrap();
        c.services.into_values().next().unwrap()
    }

    const BASE: &str = "services:\n  app:\n    image: busybox:1\n    network_mode: host\n    \
        environment:\n      A: \"1\"\n    volumes:\n      - /home/u/app/config:/etc/app:ro\n      \
        - /home/u/app/data:/data\n";

    fn tree(conf: &str) -> BTreeMap<String, OutFile> {
        BTreeMap::from([
            (
                "app/config/app.conf".to_string(),
                OutFile {
                    data: conf.as_bytes().to_vec().into(),
                    mode: 0o644,
                },
            ),
            (
                "other/x".to_string(),
                OutFile {
                    data: b"x".to_vec().into(),
                    mode: 0o644,
                },
            ),
        ])
    }

    #[test]
    fn each_kind_of_change_shows_in_its_part() {
        let base = Identity::desired(&service(BASE), "sha256:1", &tree("a"), "/home/u").unwrap();
        assert_eq!(base.hash.len(), 16);
        assert_eq!(
            base.mounts.keys().collect::<Vec<_>>(),
            ["app/config"],
            "data/ is not rendered"
        );
        // Same inputs, same identity; a file nobody mounts changes nothing.
        let mut t = tree("a");
        t.insert(
            "other/x".into(),
            OutFile {
                data: b"y".to_vec().into(),
                mode: 0o644,
            },
        );
        assert_eq!(
            Identity::desired(&service(BASE), "sha256:1", &t, "/home/u").unwrap(),
            base
        );

        let env = Identity::desired(
            &service(&BASE.replace("A: \"1\"", "A: \"2\"")),
            "sha256:1",
            &tree("a"),
            "/home/u",
        )
        .unwrap();
        assert_ne!(env.hash, base.hash);
        assert_eq!(env.changed_fields(&base), ["environment"]);
        assert!(env.changed_mounts(&base).is_empty());

        let image = Identity::desired(&service(BASE), "sha256:2", &tree("a"), "/home/u").unwrap();
        assert_eq!(image.changed_fields(&base), ["image_id"]);

        let conf = Identity::desired(&service(BASE), "sha256:1", &tree("b"), "/home/u").unwrap();
        assert!(conf.changed_fields(&base).is_empty());
        assert_eq!(conf.changed_mounts(&base), ["app/config"]);
    }

    #[test]
    fn labels_round_trip_and_damaged_labels_are_refused() {
        let id = Identity::desired(&service(BASE), "sha256:1", &tree("a"), "/home/u").unwrap();
        let labels = id.labels("nxthdr", "app", "sha256:1");
        assert_eq!(labels[MANAGED], "true");
        assert_eq!(labels[FLEET], "nxthdr");
        assert_eq!(labels[SERVICE], "app");
        assert_eq!(Identity::from_labels(&labels), Some(id.clone()));
        let mut bad = labels.clone();
        bad.insert(FIELDS.into(), "environment=00000000".into());
        assert_eq!(Identity::from_labels(&bad), None, "hash no longer matches");
        let mut missing = labels;
        missing.remove(MOUNTS);
        assert_eq!(Identity::from_labels(&missing), None);
    }

    #[test]
    fn encoding_round_trips_awkward_names() {
        let map = BTreeMap::from([
            ("a b/c,d=e%".to_string(), "1".to_string()),
            ("é".to_string(), "=,".to_string()),
        ]);
        let text = encode(&map);
        assert!(!text.contains(' '), "{text}");
        assert_eq!(decode(&text), Some(map));
        assert_eq!(decode(""), Some(BTreeMap::new()));
        assert_eq!(decode("novalue"), None);
        assert_eq!(decode("a=%G0"), None);
    }
}
