//! The YAML deserializer of every loader (inventory, secrets, compose): serde_norway's,
//! wrapped so that on the way it
//!
//! - records the key path of the first error (service names may contain dots, so the path is
//!   kept as segments rather than parsed back from serde_norway's message);
//! - refuses a mapping key written twice, naming the line of both (YAML forbids them; serde's
//!   maps would silently keep the last one);
//! - refuses YAML's special floats `.nan`, `.inf`, `-.inf`: the data model (JSON values) has no
//!   such numbers, and they must not silently become `none`;
//! - merges YAML merge keys (`<<: *anchor`, `<<: [*a, *b]`) as YAML 1.1 and Ansible do
//!   ([`super::merge`]);
//!
//! and, in the [`Dialect::Compose`] dialect only:
//!
//! - applies Compose's interpolation rule to every string value: `$$` is a literal `$`; any
//!   other `$` is refused, because nxinfra does not interpolate variables (the rendered file is
//!   final) — see [`unescape`];
//! - skips the `x-*` extension keys of every mapping that is read into a struct (the
//!   Specification allows them anywhere), except `x-nxinfra`, which only the structs that
//!   declare it accept.
//!
//! Errors raised by the wrapped visitors pass back through serde_norway, which stamps them with
//! the line of the node being read, so even syntax errors inside list items name their line.

use std::borrow::Cow;
use std::cell::{Cell, OnceCell, RefCell};
use std::collections::HashSet;

use serde::de::value::{MapAccessDeserializer, StrDeserializer};
use serde::de::{
    self, Deserialize, DeserializeOwned, DeserializeSeed, Deserializer, EnumAccess, IgnoredAny,
    MapAccess, SeqAccess, Unexpected, Visitor,
};

use super::KeyLines;

/// One step of a key path: a mapping key or a list index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// What a file is read as, beyond plain YAML.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Inventory, secrets: YAML as written.
    Plain,
    /// A compose file: `$$` unescaping and `x-*` keys skipped in structs.
    Compose,
}

/// The nxinfra settings key, the only `x-` key that is not skipped.
pub const X_NXINFRA: &str = "x-nxinfra";

/// The YAML merge key.
pub const MERGE_KEY: &str = "<<";

/// Whether `key` is an extension key that is skipped.
pub fn is_extension(key: &str) -> bool {
    key.starts_with("x-") && key != X_NXINFRA
}

/// A document that could not be read into `T`.
#[derive(Debug)]
pub struct DeError {
    /// The error as serde_norway (or a wrapped visitor) raised it.
    pub error: serde_norway::Error,
    /// The key path of the node that failed.
    pub path: Vec<Segment>,
    /// The 1-based line in the text as written, when known.
    pub line: Option<usize>,
    /// Whether the wrapper wrote the message (duplicate key, special float, merge key, `$`):
    /// it then quotes key names at most, never a value.
    pub ours: bool,
}

impl DeError {
    /// The message without serde_norway's " at line N column M" (the line is [`Self::line`]).
    pub fn message(&self) -> String {
        let mut message = self.error.to_string();
        if let Some(l) = self.error.location() {
            let suffix = format!(" at line {} column {}", l.line(), l.column());
            if let Some(stripped) = message.strip_suffix(&suffix) {
                message = stripped.to_string();
            }
        }
        if message == "repetition limit exceeded" {
            // serde_norway stops expanding aliases past a multiple of the document's size.
            message = "the aliases (`*name`) expand to far more than the document holds (a YAML \
                       alias bomb?): refused before it fills the memory"
                .into();
        }
        message
    }
}

/// Parses `text` into `T` in `dialect`; on error, also the key path of the node that failed.
pub fn from_str<T: DeserializeOwned>(text: &str, dialect: Dialect) -> Result<T, DeError> {
    if text.contains(MERGE_KEY) {
        // Merge keys need the whole mapping before any of it is read: read the document as
        // YAML values, merge, and read the merged document (written back as YAML, so that it
        // is read exactly as a document written without merge keys).
        let mut value: serde_norway::Value = read(text, Dialect::Plain)?;
        let merged = super::merge::apply(&mut value).map_err(|(message, path)| {
            let lines = KeyLines::new(text);
            DeError {
                error: de::Error::custom(message),
                line: line_of(&lines, &path),
                path,
                ours: true,
            }
        })?;
        if merged {
            let text_merged = serde_norway::to_string(&value).map_err(|error| DeError {
                error,
                path: Vec::new(),
                line: None,
                ours: false,
            })?;
            return read(&text_merged, dialect).map_err(|mut e| {
                // Lines of the merged text mean nothing to the reader: point at the nearest
                // key of the error's path that is written in the file.
                e.line = line_of(&KeyLines::new(text), &e.path);
                e
            });
        }
    }
    read(text, dialect)
}

fn read<T: DeserializeOwned>(text: &str, dialect: Dialect) -> Result<T, DeError> {
    let state = State {
        path: RefCell::new(None),
        ours: Cell::new(false),
        dialect,
        text,
        lines: OnceCell::new(),
    };
    let result = T::deserialize(De {
        inner: serde_norway::Deserializer::from_str(text),
        chain: &Chain::Root,
        state: &state,
    });
    result.map_err(|error| DeError {
        line: error.location().map(|l| l.line()),
        error,
        path: state.path.into_inner().unwrap_or_default(),
        ours: state.ours.get(),
    })
}

/// The keys of `path` up to its first list index.
fn leading_keys(path: &[Segment]) -> Vec<&str> {
    path.iter()
        .map_while(|s| match s {
            Segment::Key(k) => Some(k.as_str()),
            Segment::Index(_) => None,
        })
        .collect()
}

/// The line of the longest prefix of `path` written in block style.
fn line_of(lines: &KeyLines, path: &[Segment]) -> Option<usize> {
    let keys = leading_keys(path);
    (1..=keys.len()).rev().find_map(|n| lines.get(&keys[..n]))
}

/// Reads a mapping already opened by a custom visitor into the struct `T` (the long syntax of
/// ports, volumes, ...), skipping extension keys as for any struct.
pub fn long<'de, T: Deserialize<'de>, A: MapAccess<'de>>(map: A) -> Result<T, A::Error> {
    T::deserialize(MapAccessDeserializer::new(SkipExtensions(map)))
}

/// Unescapes `$$` into `$`; any other `$` is an error whose message never quotes the value
/// (it may be a secret): it names the variable when the value is an `environment` list item.
pub fn unescape<'s>(value: &'s str, context: Context) -> Result<Cow<'s, str>, String> {
    if !value.contains('$') {
        return Ok(Cow::Borrowed(value));
    }
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        if chars.next() != Some('$') {
            let what = match (context, value.split_once('=')) {
                (Context::EnvironmentItem, Some((name, _))) => format!("variable {name}: "),
                _ => String::new(),
            };
            return Err(format!(
                "{what}a \"$\" must be written \"$$\": nxinfra does not interpolate variables \
                 (the rendered file is final; in a template, escape it with \
                 `| replace('$', '$$')`)"
            ));
        }
        out.push('$');
    }
    Ok(Cow::Owned(out))
}

/// Why `.nan`, `.inf` and `-.inf` are refused.
const SPECIAL_FLOAT: &str = "YAML's special floats (.nan, .inf, -.inf) cannot be kept: the values \
     nxinfra reads are JSON values, which have no such numbers; quote it ('.inf') for the text";

/// Where a string value sits, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Other,
    /// An item of an `environment` list (`NAME=value`).
    EnvironmentItem,
}

struct State<'t> {
    /// The path of the first error.
    path: RefCell<Option<Vec<Segment>>>,
    /// Whether the first error was raised by this wrapper.
    ours: Cell<bool>,
    dialect: Dialect,
    /// The text being read, for the line of a key seen earlier (duplicates).
    text: &'t str,
    lines: OnceCell<KeyLines>,
}

impl State<'_> {
    /// Records `chain` as the error's path unless a deeper node already did.
    fn trigger(&self, chain: &Chain) {
        let mut path = self.path.borrow_mut();
        if path.is_none() {
            *path = Some(chain.segments());
        }
    }

    /// An error raised by this wrapper at `chain`.
    fn fail<E: de::Error>(&self, chain: &Chain, message: String) -> E {
        if self.path.borrow().is_none() {
            self.ours.set(true);
        }
        self.trigger(chain);
        E::custom(message)
    }

    /// The line where `key` of the mapping at `chain` is written first, if in block style.
    fn first_line(&self, chain: &Chain, key: &str) -> Option<usize> {
        let mut path = chain.segments();
        path.push(Segment::Key(key.to_string()));
        // KeyLines does not index keys inside list items.
        let keys = leading_keys(&path);
        if keys.len() != path.len() {
            return None;
        }
        self.lines
            .get_or_init(|| KeyLines::new(self.text))
            .get(&keys)
    }
}

#[derive(Clone, Copy)]
enum Chain<'a> {
    Root,
    Key { parent: &'a Chain<'a>, key: &'a str },
    Index { parent: &'a Chain<'a>, index: usize },
}

impl Chain<'_> {
    fn segments(&self) -> Vec<Segment> {
        let mut out = Vec::new();
        let mut at = self;
        loop {
            match at {
                Chain::Root => break,
                Chain::Key { parent, key } => {
                    out.push(Segment::Key((*key).to_string()));
                    at = parent;
                }
                Chain::Index { parent, index } => {
                    out.push(Segment::Index(*index));
                    at = parent;
                }
            }
        }
        out.reverse();
        out
    }

    fn context(&self) -> Context {
        match self {
            Chain::Index {
                parent: Chain::Key { key, .. },
                ..
            } if *key == "environment" => Context::EnvironmentItem,
            _ => Context::Other,
        }
    }
}

struct De<'a, D> {
    inner: D,
    chain: &'a Chain<'a>,
    state: &'a State<'a>,
}

macro_rules! forward_deserialize {
    ($($method:ident $(($($arg:ident: $ty:ty),*))?;)*) => {$(
        fn $method<V: Visitor<'de>>(
            self,
            $($($arg: $ty,)*)?
            visitor: V,
        ) -> Result<V::Value, Self::Error> {
            let (chain, state) = (self.chain, self.state);
            let wrap = Wrap { inner: visitor, chain, state, is_struct: false };
            self.inner.$method($($($arg,)*)? wrap).inspect_err(|_| state.trigger(chain))
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for De<'_, D> {
    type Error = D::Error;

    forward_deserialize! {
        deserialize_any; deserialize_bool; deserialize_i8; deserialize_i16; deserialize_i32;
        deserialize_i64; deserialize_i128; deserialize_u8; deserialize_u16; deserialize_u32;
        deserialize_u64; deserialize_u128; deserialize_f32; deserialize_f64; deserialize_char;
        deserialize_str; deserialize_string; deserialize_bytes; deserialize_byte_buf;
        deserialize_option; deserialize_unit; deserialize_seq; deserialize_map;
        deserialize_identifier;
        deserialize_unit_struct(name: &'static str);
        deserialize_newtype_struct(name: &'static str);
        deserialize_tuple(len: usize);
        deserialize_tuple_struct(name: &'static str, len: usize);
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        let (chain, state) = (self.chain, self.state);
        let wrap = Wrap {
            inner: visitor,
            chain,
            state,
            is_struct: true,
        };
        self.inner
            .deserialize_struct(name, fields, wrap)
            .inspect_err(|_| state.trigger(chain))
    }

    /// Skipped content is neither interpolated nor tracked.
    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.inner.deserialize_ignored_any(visitor)
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

struct Wrap<'a, V> {
    inner: V,
    chain: &'a Chain<'a>,
    state: &'a State<'a>,
    /// Read into a struct: a mapping only, extension keys skipped.
    is_struct: bool,
}

macro_rules! forward_visit {
    ($($method:ident($ty:ty);)*) => {$(
        fn $method<E: de::Error>(self, v: $ty) -> Result<Self::Value, E> {
            self.inner.$method(v)
        }
    )*};
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Wrap<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        self.inner.expecting(f)
    }

    forward_visit! {
        visit_bool(bool); visit_i8(i8); visit_i16(i16); visit_i32(i32); visit_i64(i64);
        visit_i128(i128); visit_u8(u8); visit_u16(u16); visit_u32(u32); visit_u64(u64);
        visit_u128(u128); visit_char(char);
        visit_bytes(&[u8]); visit_borrowed_bytes(&'de [u8]); visit_byte_buf(Vec<u8>);
    }

    fn visit_f32<E: de::Error>(self, v: f32) -> Result<Self::Value, E> {
        self.visit_f64(f64::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        if !v.is_finite() {
            return Err(self.state.fail(self.chain, SPECIAL_FLOAT.to_string()));
        }
        self.inner.visit_f64(v)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        if self.state.dialect != Dialect::Compose {
            return self.inner.visit_str(v);
        }
        match unescape(v, self.chain.context()).map_err(|m| self.state.fail(self.chain, m))? {
            Cow::Borrowed(s) => self.inner.visit_str(s),
            Cow::Owned(s) => self.inner.visit_string(s),
        }
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        if self.state.dialect != Dialect::Compose {
            return self.inner.visit_borrowed_str(v);
        }
        match unescape(v, self.chain.context()).map_err(|m| self.state.fail(self.chain, m))? {
            Cow::Borrowed(s) => self.inner.visit_borrowed_str(s),
            Cow::Owned(s) => self.inner.visit_string(s),
        }
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        if self.state.dialect == Dialect::Compose && v.contains('$') {
            self.visit_str(&v)
        } else {
            self.inner.visit_string(v)
        }
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        self.inner.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        self.inner.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.inner.visit_some(De {
            inner: d,
            chain: self.chain,
            state: self.state,
        })
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.inner.visit_newtype_struct(De {
            inner: d,
            chain: self.chain,
            state: self.state,
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        if self.is_struct {
            // serde's derived structs would take a list positionally.
            return Err(de::Error::invalid_type(Unexpected::Seq, &self));
        }
        self.inner.visit_seq(SeqWrap {
            inner: seq,
            chain: self.chain,
            state: self.state,
            index: 0,
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let map = MapWrap {
            inner: map,
            chain: self.chain,
            state: self.state,
            key: None,
            seen: HashSet::new(),
        };
        if self.is_struct && self.state.dialect == Dialect::Compose {
            self.inner.visit_map(SkipExtensions(map))
        } else {
            self.inner.visit_map(map)
        }
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        self.inner.visit_enum(data)
    }
}

struct SeqWrap<'a, A> {
    inner: A,
    chain: &'a Chain<'a>,
    state: &'a State<'a>,
    index: usize,
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for SeqWrap<'_, A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        let chain = Chain::Index {
            parent: self.chain,
            index: self.index,
        };
        self.index += 1;
        self.inner.next_element_seed(Seed {
            inner: seed,
            chain: &chain,
            state: self.state,
        })
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

struct MapWrap<'a, A> {
    inner: A,
    chain: &'a Chain<'a>,
    state: &'a State<'a>,
    /// The key just read, for the path of its value.
    key: Option<String>,
    /// Every key read so far: a repeated key is an error (YAML forbids them; serde's maps
    /// would silently keep the last one).
    seen: HashSet<String>,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for MapWrap<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        self.key = None;
        let (chain, state) = (self.chain, self.state);
        self.inner
            .next_key_seed(KeySeed {
                inner: seed,
                key: &mut self.key,
                seen: &mut self.seen,
                chain,
                state,
            })
            .inspect_err(|_| state.trigger(chain))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        let key = self.key.take().unwrap_or_else(|| "?".to_string());
        let chain = Chain::Key {
            parent: self.chain,
            key: &key,
        };
        self.inner.next_value_seed(Seed {
            inner: seed,
            chain: &chain,
            state: self.state,
        })
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

struct Seed<'a, S> {
    inner: S,
    chain: &'a Chain<'a>,
    state: &'a State<'a>,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Seed<'_, S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        self.inner.deserialize(De {
            inner: d,
            chain: self.chain,
            state: self.state,
        })
    }
}

/// Reads a key as a string (recording it), then hands it to the real key seed: errors about
/// the key (unknown field, duplicate) are raised while serde_norway reads the key, so they
/// carry the key's line.
struct KeySeed<'s, K> {
    inner: K,
    key: &'s mut Option<String>,
    seen: &'s mut HashSet<String>,
    /// The mapping's path.
    chain: &'s Chain<'s>,
    state: &'s State<'s>,
}

impl<'de, K: DeserializeSeed<'de>> DeserializeSeed<'de> for KeySeed<'_, K> {
    type Value = K::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<K::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de, K: DeserializeSeed<'de>> Visitor<'de> for KeySeed<'_, K> {
    type Value = K::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<K::Value, E> {
        if !self.seen.insert(v.to_string()) {
            let first = match self.state.first_line(self.chain, v) {
                Some(line) => format!(" (first written at line {line})"),
                None => " (written twice in one mapping)".to_string(),
            };
            return Err(self
                .state
                .fail(self.chain, format!("duplicate key {v:?}{first}")));
        }
        *self.key = Some(v.to_string());
        self.inner.deserialize(StrDeserializer::<E>::new(v))
    }
}

/// Skips extension keys and their values.
struct SkipExtensions<A>(A);

impl<'de, A: MapAccess<'de>> MapAccess<'de> for SkipExtensions<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        let mut seed = seed;
        loop {
            match self.0.next_key_seed(ExtensionKey(seed))? {
                None => return Ok(None),
                Some(Ok(key)) => return Ok(Some(key)),
                Some(Err(back)) => {
                    self.0.next_value::<IgnoredAny>()?;
                    seed = back;
                }
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.0.next_value_seed(seed)
    }
}

/// A key seed that gives the real seed back (`Err`) when the key is an extension.
struct ExtensionKey<K>(K);

impl<'de, K: DeserializeSeed<'de>> DeserializeSeed<'de> for ExtensionKey<K> {
    type Value = Result<K::Value, K>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de, K: DeserializeSeed<'de>> Visitor<'de> for ExtensionKey<K> {
    type Value = Result<K::Value, K>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        if is_extension(v) {
            return Ok(Err(self.0));
        }
        self.0.deserialize(StrDeserializer::<E>::new(v)).map(Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use indexmap::IndexMap;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Item {
        name: String,
        #[serde(default)]
        list: Vec<String>,
        #[serde(rename = "x-nxinfra", default)]
        x: Option<String>,
    }

    type Doc = IndexMap<String, Item>;

    fn compose<T: DeserializeOwned>(text: &str) -> T {
        from_str(text, Dialect::Compose)
            .map_err(|e| e.error)
            .unwrap()
    }

    fn err(text: &str) -> (String, Option<usize>, Vec<Segment>) {
        let e = from_str::<Doc>(text, Dialect::Compose).unwrap_err();
        (e.message(), e.line, e.path)
    }

    fn plain_err(text: &str) -> DeError {
        from_str::<serde_json::Value>(text, Dialect::Plain).unwrap_err()
    }

    fn key(k: &str) -> Segment {
        Segment::Key(k.to_string())
    }

    #[test]
    fn extension_keys_are_skipped_in_structs_only() {
        let doc: Doc = compose("a:\n  name: n\n  x-anything: {deep: [1, $x]}\n  x-nxinfra: s\n");
        assert_eq!(doc["a"].name, "n");
        assert_eq!(doc["a"].x.as_deref(), Some("s"));
        // In a plain map, an x- key is data.
        let doc: Doc = compose("x-a:\n  name: n\n");
        assert!(doc.contains_key("x-a"));
    }

    #[test]
    fn dollars_are_unescaped_and_variables_refused() {
        let doc: Doc = compose("a:\n  name: \"a$$b$$\"\n");
        assert_eq!(doc["a"].name, "a$b$");
        for bad in ["$HOME", "${HOME}", "a$", "$ b"] {
            let (msg, line, path) = err(&format!(
                "a:\n  name: n\n  list:\n    - ok\n    - '{bad}'\n"
            ));
            assert!(msg.contains("must be written \"$$\""), "{msg}");
            assert!(!msg.contains(bad), "{msg}");
            assert_eq!(line, Some(5));
            assert_eq!(path, vec![key("a"), key("list"), Segment::Index(1)]);
        }
        assert_eq!(
            unescape("DB=pa$s", Context::EnvironmentItem).unwrap_err(),
            unescape("DB=xx$y", Context::EnvironmentItem).unwrap_err(),
        );
        assert!(
            unescape("DB=pa$s", Context::EnvironmentItem)
                .unwrap_err()
                .starts_with("variable DB: ")
        );
    }

    #[test]
    fn unknown_and_duplicate_keys_name_their_line_and_path() {
        let (msg, line, path) = err("a:\n  name: n\n  nmae: m\n");
        assert!(msg.contains("unknown field `nmae`"), "{msg}");
        assert_eq!(line, Some(3));
        assert_eq!(path, vec![key("a")]);

        let (msg, line, path) = err("a:\n  name: n\nb:\n  name: m\na:\n  name: o\n");
        assert!(
            msg.contains("duplicate key \"a\" (first written at line 1)"),
            "{msg}"
        );
        assert_eq!(line, Some(5));
        assert_eq!(path, Vec::<Segment>::new());

        let (msg, line, _) = err("a:\n  name: n\n  name: m\n");
        assert!(
            msg.contains("duplicate key \"name\" (first written at line 2)"),
            "{msg}"
        );
        assert_eq!(line, Some(3));
    }

    #[test]
    fn plain_yaml_duplicates_name_both_lines() {
        let e = plain_err("ixp:\n  hosts:\n    a:\n      ansible_host: x\n      ansible_host: y\n");
        assert_eq!(e.line, Some(5));
        assert!(e.ours);
        assert!(
            e.message()
                .contains("duplicate key \"ansible_host\" (first written at line 4)"),
            "{}",
            e.message()
        );
        let e = plain_err("ixp:\n  hosts: {}\ncore: {}\nixp:\n  vars: {}\n");
        assert_eq!(e.line, Some(4));
        assert!(
            e.message().contains("(first written at line 1)"),
            "{}",
            e.message()
        );
        // In a flow mapping there is no line of the first one to give.
        let e = plain_err("a: {b: 1, b: 2}\n");
        assert!(e.message().contains("written twice"), "{}", e.message());
    }

    #[test]
    fn plain_yaml_is_not_unescaped_and_keeps_x_keys() {
        #[derive(Debug, Deserialize)]
        struct S {
            #[serde(rename = "x-a")]
            x: String,
        }
        let s: S = from_str("x-a: a$b$$\n", Dialect::Plain)
            .map_err(|e| e.error)
            .unwrap();
        assert_eq!(s.x, "a$b$$");
    }

    #[test]
    fn special_floats_are_refused_not_turned_into_null() {
        for text in ["a: .nan\n", "a:\n  b: [1, .inf]\n", "a: -.Inf\n"] {
            let e = plain_err(text);
            assert!(
                e.message().contains("special floats"),
                "{text}: {}",
                e.message()
            );
            assert!(e.line.is_some(), "{text}");
            assert!(e.ours);
        }
        // Quoted, they are text.
        let v: serde_json::Value = from_str("a: '.nan'\nb: 1.5\n", Dialect::Plain)
            .map_err(|e| e.error)
            .unwrap();
        assert_eq!(v["a"], ".nan");
        assert_eq!(v["b"], 1.5);
    }

    #[test]
    fn merge_keys_are_merged_in_both_dialects() {
        let text = "x-base: &base\n  name: base\n  list: [a]\nsvc:\n  <<: *base\n  name: own\n";
        let doc: Doc = compose(text);
        assert_eq!(doc["svc"].name, "own");
        assert_eq!(doc["svc"].list, ["a"]);
        let v: serde_json::Value = from_str(text, Dialect::Plain).map_err(|e| e.error).unwrap();
        assert_eq!(v["svc"]["name"], "own");
        assert_eq!(v["svc"]["list"][0], "a");
        assert!(v["svc"].get("<<").is_none());
        // `$$` is unescaped once, merged or not.
        let doc: Doc = compose("x-b: &b {name: \"p$$q\"}\ns:\n  <<: *b\n");
        assert_eq!(doc["s"].name, "p$q");
        // An error in a merged document points at the nearest key written in the file.
        let (msg, line, path) = err("a: &b {name: n}\nsvc:\n  <<: *b\n  nmae: m\n");
        assert!(msg.contains("unknown field `nmae`"), "{msg}");
        assert_eq!(path, vec![key("svc")]);
        assert_eq!(line, Some(2));
        // A bad merge key names its mapping's line.
        let e = plain_err("a: 1\ng:\n  <<: 3\n");
        assert!(e.message().contains("merge key"), "{}", e.message());
        assert_eq!(e.line, Some(2));
    }

    #[test]
    fn structs_refuse_lists() {
        let (msg, line, path) = err("a: [n, [x]]\n");
        assert!(msg.contains("invalid type: sequence"), "{msg}");
        assert_eq!(line, Some(1));
        assert_eq!(path, vec![key("a")]);
    }

    #[test]
    fn nested_value_errors_have_full_paths() {
        let (msg, line, path) = err("a.b:\n  name: n\n  list:\n    - x\n    - [y]\n");
        assert!(msg.contains("invalid type: sequence"), "{msg}");
        assert_eq!(line, Some(5));
        assert_eq!(path, vec![key("a.b"), key("list"), Segment::Index(1)]);
    }
}
