//! YAML helpers shared by every loader: the one deserializer they all read with ([`de`]:
//! duplicate keys, merge keys, special floats, error paths), parsing with the file named in
//! errors, and finding the line of a key path for errors found after parsing (conflicts,
//! unknown references).

pub mod de;
mod merge;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A YAML document that failed to parse or did not have the expected shape.
#[derive(Debug, thiserror::Error)]
#[error("{}{}: {message}", file.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct YamlError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub message: String,
    /// Whether the message is the parser's or serde's own text, which may quote the input
    /// (callers reading secrets hide quoted parts); nxinfra's messages quote key names at most.
    pub from_parser: bool,
}

/// Parses `text` (read from `file`) into `T`; errors carry the file and line.
///
/// A key written twice in one mapping is an error naming both lines; merge keys (`<<`) are
/// merged; `.nan`/`.inf` are refused (see [`de`]).
pub fn parse<T: serde::de::DeserializeOwned>(file: &Path, text: &str) -> Result<T, YamlError> {
    de::from_str(text, de::Dialect::Plain).map_err(|e| {
        let line = e.line;
        let mut from_parser = !e.ours;
        let mut message = e.message();
        // A tagged value (`!vault |`, `!unsafe`) reaches serde as an enum.
        if message.contains("invalid type: enum") {
            from_parser = false;
            message = format!(
                "{}YAML tags such as Ansible's `!vault` or `!unsafe` are not supported; move \
                 an inline-encrypted value into the secrets (`nxinfra secrets set PATH`), which \
                 templates see at the top level like an inventory variable",
                message
                    .split("invalid type: enum")
                    .next()
                    .unwrap_or_default()
            );
        }
        YamlError {
            file: file.to_path_buf(),
            line,
            message,
            from_parser,
        }
    })
}

/// The 1-based line of every mapping key path written in block-style YAML, indexed in one pass.
///
/// Used only to point at a line for errors detected after parsing (the parsed values carry no
/// positions). Paths written in flow style are not indexed: such errors have no line.
#[derive(Debug, Default)]
pub struct KeyLines(HashMap<String, usize>);

const SEP: char = '\u{1f}';

impl KeyLines {
    pub fn new(text: &str) -> Self {
        let mut index = HashMap::new();
        // Stack of (indent, key) for the mapping keys enclosing the current line.
        let mut stack: Vec<(usize, String)> = Vec::new();
        for (idx, raw) in text.lines().enumerate() {
            let content = raw.trim_start();
            if content.is_empty() || content.starts_with('#') || content.starts_with("---") {
                continue;
            }
            let indent = raw.len() - content.len();
            let Some(key) = block_key(content) else {
                continue;
            };
            while stack.last().is_some_and(|(i, _)| *i >= indent) {
                stack.pop();
            }
            stack.push((indent, key));
            let joined: Vec<&str> = stack.iter().map(|(_, k)| k.as_str()).collect();
            index
                .entry(joined.join(&SEP.to_string()))
                .or_insert(idx + 1);
        }
        KeyLines(index)
    }

    /// The line of `path` (first occurrence), if written in block style.
    pub fn get<S: AsRef<str>>(&self, path: &[S]) -> Option<usize> {
        let joined: Vec<&str> = path.iter().map(AsRef::as_ref).collect();
        self.0.get(&joined.join(&SEP.to_string())).copied()
    }
}

/// The key of a `key:` or `key: value` line, unquoted; `None` for list items and scalars.
fn block_key(content: &str) -> Option<String> {
    if content.starts_with("- ") || content == "-" {
        return None;
    }
    let (key, rest) = if let Some(quote @ ('"' | '\'')) = content.chars().next() {
        let end = content[1..].find(quote)? + 1;
        (&content[1..end], &content[end + 1..])
    } else {
        let colon = content.find(':')?;
        (content[..colon].trim_end(), &content[colon..])
    };
    let rest = rest.trim_start();
    if !rest.starts_with(':') {
        return None;
    }
    let after = &rest[1..];
    if !(after.is_empty() || after.starts_with(' ') || after.starts_with('\t')) {
        return None;
    }
    Some(key.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
# comment
all:
  vars:
    a: 1
core:
  hosts:
    coreams01:
      ansible_host: x
  vars:
    'quoted key': 2
ixp:
  children:
    core:
";

    #[test]
    fn finds_nested_keys() {
        let lines = KeyLines::new(DOC);
        assert_eq!(lines.get(&["all"]), Some(2));
        assert_eq!(lines.get(&["all", "vars", "a"]), Some(4));
        assert_eq!(lines.get(&["core", "hosts", "coreams01"]), Some(7));
        assert_eq!(
            lines.get(&["core", "hosts", "coreams01", "ansible_host"]),
            Some(8)
        );
        assert_eq!(lines.get(&["core", "vars", "quoted key"]), Some(10));
        assert_eq!(lines.get(&["ixp", "children", "core"]), Some(13));
    }

    #[test]
    fn missing_paths_have_no_line() {
        let lines = KeyLines::new(DOC);
        assert_eq!(lines.get(&["core", "children"]), None);
        assert_eq!(lines.get(&["vars", "a"]), None);
        assert_eq!(lines.get::<&str>(&[]), None);
    }

    #[test]
    fn tagged_values_get_an_explanation() {
        let err = parse::<serde_json::Value>(
            Path::new("inv.yml"),
            "a:\n  pw: !vault |\n    $ANSIBLE_VAULT;1.1;AES256\n    6231\n",
        )
        .unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(err.message.starts_with("a.pw: YAML tags"), "{err}");
        assert!(err.message.contains("nxinfra secrets set"), "{err}");
    }

    #[test]
    fn parse_errors_name_file_and_line() {
        let err =
            parse::<serde_json::Value>(Path::new("inv.yml"), "a: 1\nb: [1, 2\nc: 3\n").unwrap_err();
        assert_eq!(err.file, Path::new("inv.yml"));
        assert!(err.line.is_some_and(|l| l >= 2), "{err}");
        assert!(err.to_string().starts_with("inv.yml:"), "{err}");
    }
}
