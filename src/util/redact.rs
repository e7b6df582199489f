//! Secret values never reach output: every printed text goes through a [`Redactor`] that
//! replaces each secret value with `<secret:PATH>`. There is no global one: the command layer
//! holds the redactor of the secrets it loaded (`app::Ctx`) and hands it to what prints (the
//! fleet runner, progress, diffs, the final error).

use std::borrow::Cow;

use aho_corasick::{AhoCorasick, MatchKind};

/// Values shorter than this are not searched for in text: a two-character secret would shred
/// every message. `secrets` loading warns about such values.
pub const MIN_REDACTED_LEN: usize = 4;

/// Every leaf of `value` under `prefix` as (dotted path, value as text), in document order:
/// the `(path, value)` pairs a [`Redactor`] is built from (`null` has no text and is left out).
pub fn leaves(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, String)>) {
    use serde_json::Value;
    let join = |key: &str| {
        if prefix.is_empty() {
            key.to_string()
        } else {
            format!("{prefix}.{key}")
        }
    };
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                leaves(&join(k), v, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                leaves(&join(&i.to_string()), v, out);
            }
        }
        Value::Null => {}
        Value::String(s) => out.push((prefix.to_string(), s.clone())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

pub struct Redactor {
    matcher: Option<AhoCorasick>,
    replacements: Vec<String>,
}

/// Not the values (the matcher's own Debug would print them): how many there are.
impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} values)", self.replacements.len())
    }
}

impl Default for Redactor {
    /// One that knows no secret (before any is loaded).
    fn default() -> Self {
        Redactor::new([])
    }
}

impl Redactor {
    /// Builds a redactor for `(path, value)` leaves.
    pub fn new<'a>(leaves: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut pairs: Vec<(&str, &str)> = leaves
            .into_iter()
            .filter(|(_, v)| v.len() >= MIN_REDACTED_LEN)
            .collect();
        // Longest value first, so a secret containing another is replaced whole.
        pairs.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
        pairs.dedup_by(|a, b| a.1 == b.1);
        let matcher = (!pairs.is_empty())
            .then(|| {
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(pairs.iter().map(|(_, v)| v))
                    .ok()
            })
            .flatten();
        let replacements = pairs.iter().map(|(p, _)| format!("<secret:{p}>")).collect();
        Redactor {
            matcher,
            replacements,
        }
    }

    /// `text` with every secret value replaced by `<secret:PATH>`.
    pub fn redact<'t>(&self, text: &'t str) -> Cow<'t, str> {
        match &self.matcher {
            Some(m) if m.is_match(text) => Cow::Owned(m.replace_all(text, &self.replacements)),
            _ => Cow::Borrowed(text),
        }
    }

    /// Whether `data` contains any secret value.
    pub fn contains_secret(&self, data: &[u8]) -> bool {
        self.matcher.as_ref().is_some_and(|m| m.is_match(data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_values_longest_first() {
        let r = Redactor::new([
            ("db.password", "hunter2"),
            ("db.long", "hunter2hunter2"),
            ("x", "ab"),
        ]);
        assert_eq!(
            r.redact("p=hunter2 l=hunter2hunter2 short=ab"),
            "p=<secret:db.password> l=<secret:db.long> short=ab"
        );
        assert!(r.contains_secret(b"...hunter2..."));
        assert!(!r.contains_secret(b"hunter"));
        assert!(matches!(r.redact("nothing"), Cow::Borrowed(_)));
        assert_eq!(Redactor::new([]).redact("hunter2"), "hunter2");
    }

    #[test]
    fn its_debug_form_shows_no_value() {
        let r = Redactor::new([("db.password", "hunter2")]);
        assert_eq!(format!("{r:?}"), "Redactor(1 values)");
    }
}
