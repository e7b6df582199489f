//! Secret values never reach output: every printed text goes through a [`Redactor`] that
//! replaces each secret value with `<secret:PATH>`.

use std::borrow::Cow;
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, MatchKind};

/// Values shorter than this are not searched for in text: a two-character secret would shred
/// every message. `secrets` loading warns about such values.
pub const MIN_REDACTED_LEN: usize = 4;

#[derive(Debug)]
pub struct Redactor {
    matcher: Option<AhoCorasick>,
    replacements: Vec<String>,
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

static GLOBAL: OnceLock<Redactor> = OnceLock::new();

/// Makes `redactor` the one used by [`redact_global`] (first call wins).
pub fn install(redactor: Redactor) {
    let _ = GLOBAL.set(redactor);
}

/// The installed redactor, if secrets were loaded.
pub fn global() -> Option<&'static Redactor> {
    GLOBAL.get()
}

/// Redacts with the installed redactor (no-op before secrets are loaded).
pub fn redact_global(text: &str) -> Cow<'_, str> {
    match GLOBAL.get() {
        Some(r) => r.redact(text),
        None => Cow::Borrowed(text),
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
}
