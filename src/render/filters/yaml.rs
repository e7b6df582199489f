//! `to_yaml`, `to_nice_yaml`, `from_yaml`. A small emitter of its own: serde_norway has no
//! indent setting, and Ansible users expect PyYAML's layout and YAML 1.1-safe quoting.

use super::*;

pub(super) struct YamlOpts {
    indent: usize,
    sort_keys: bool,
}

/// Strings PyYAML (YAML 1.1) resolves to a non-string type when plain: bool, int, float, null,
/// timestamp, merge and value keys.
pub(super) static YAML11_IMPLICIT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"^(?:",
        r"yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF",
        r"|[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+",
        r"|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+",
        r"|[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?",
        r"|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)",
        r"|~|null|Null|NULL|<<|=",
        r"|[0-9]{4}-[0-9]{2}-[0-9]{2}",
        r"|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?",
        r"(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?",
        r")$"
    ))
    .expect("constant regex")
});

/// A YAML double-quoted scalar (always valid, always one line).
pub(super) fn yaml_double_quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{b}' => out.push_str("\\v"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '\u{1b}' => out.push_str("\\e"),
            '\u{85}' => out.push_str("\\N"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            '\u{feff}' => out.push_str("\\uFEFF"),
            c if (c as u32) < 0x20 || (0x7f..=0x9f).contains(&(c as u32)) => {
                let _ = write!(out, "\\x{:02X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A string scalar. Multi-line strings become literal blocks whose content lines are indented
/// to column `content_col`; everything else stays on one line.
pub(super) fn yaml_string(filter: &str, s: &str, content_col: usize) -> Result<String, Error> {
    let emitted =
        serde_norway::to_string(s).map_err(|e| err(filter, format!("cannot serialize: {e}")))?;
    let emitted = emitted.strip_suffix('\n').unwrap_or(&emitted);
    let emitted = emitted.strip_suffix("\n...").unwrap_or(emitted);
    if !emitted.contains('\n') {
        if !emitted.starts_with(['\'', '"']) && YAML11_IMPLICIT.is_match(s) {
            return Ok(format!("'{}'", s.replace('\'', "''")));
        }
        return Ok(emitted.to_string());
    }
    let mut lines = emitted.split('\n');
    let header = lines.next().unwrap_or_default();
    if !matches!(header, "|" | "|-" | "|+") {
        return Ok(yaml_double_quoted(s));
    }
    let pad = " ".repeat(content_col);
    let mut out = header.to_string();
    for line in lines {
        out.push('\n');
        if line.is_empty() {
            continue;
        }
        match line.strip_prefix("  ") {
            Some(rest) => {
                out.push_str(&pad);
                out.push_str(rest);
            }
            None => return Ok(yaml_double_quoted(s)),
        }
    }
    Ok(out)
}

pub(super) fn yaml_float(f: f64) -> String {
    if f.is_nan() {
        return ".nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { ".inf" } else { "-.inf" }.into();
    }
    let repr = py_float_repr(f);
    if !repr.contains('.') && repr.contains('e') {
        repr.replacen('e', ".0e", 1)
    } else {
        repr
    }
}

/// A scalar (or empty collection) on one line, except multi-line strings (literal blocks).
pub(super) fn yaml_scalar(
    filter: &str,
    value: &Value,
    content_col: usize,
) -> Result<String, Error> {
    Ok(match value.kind() {
        ValueKind::None => "null".into(),
        ValueKind::Bool => if value.is_true() { "true" } else { "false" }.into(),
        ValueKind::Number if value.is_integer() => value.to_string(),
        ValueKind::Number => as_f64(value).map(yaml_float).unwrap_or_default(),
        ValueKind::String => yaml_string(filter, value.as_str().unwrap_or_default(), content_col)?,
        _ if is_map(value) => "{}".into(),
        _ if is_seq(value) => "[]".into(),
        kind => {
            return Err(err(
                filter,
                format!("cannot serialize a value of type {kind}"),
            ));
        }
    })
}

pub(super) fn yaml_key(filter: &str, key: &Value) -> Result<String, Error> {
    match key.kind() {
        ValueKind::None | ValueKind::Bool | ValueKind::Number => yaml_scalar(filter, key, 0),
        ValueKind::String => {
            let s = key.as_str().unwrap_or_default();
            let scalar = yaml_string(filter, s, 0)?;
            Ok(if scalar.contains('\n') {
                yaml_double_quoted(s)
            } else {
                scalar
            })
        }
        kind => Err(err(
            filter,
            format!("unsupported mapping key of type {kind}"),
        )),
    }
}

pub(super) enum YamlNode {
    Map(Vec<(Value, Value)>),
    Seq(Vec<Value>),
    Scalar,
}

pub(super) fn yaml_node(value: &Value, opts: &YamlOpts) -> Result<YamlNode, Error> {
    if is_map(value) {
        let mut entries = map_entries(value)?;
        if entries.is_empty() {
            return Ok(YamlNode::Scalar);
        }
        if opts.sort_keys {
            entries.sort_by(|a, b| a.0.cmp(&b.0));
        }
        Ok(YamlNode::Map(entries))
    } else if is_seq(value) {
        let items = seq_items(value)?;
        if items.is_empty() {
            return Ok(YamlNode::Scalar);
        }
        Ok(YamlNode::Seq(items))
    } else {
        Ok(YamlNode::Scalar)
    }
}

/// Writes a block mapping; the first line's indentation is already written.
pub(super) fn yaml_mapping(
    filter: &str,
    entries: &[(Value, Value)],
    col: usize,
    opts: &YamlOpts,
    out: &mut String,
) -> Result<(), Error> {
    for (i, (key, value)) in entries.iter().enumerate() {
        if i > 0 {
            out.push_str(&" ".repeat(col));
        }
        out.push_str(&yaml_key(filter, key)?);
        out.push(':');
        yaml_child(filter, value, col, true, opts, out)?;
    }
    Ok(())
}

/// Writes a block sequence (PyYAML style: not indented under a mapping key).
pub(super) fn yaml_sequence(
    filter: &str,
    items: &[Value],
    col: usize,
    opts: &YamlOpts,
    out: &mut String,
) -> Result<(), Error> {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(&" ".repeat(col));
        }
        out.push('-');
        yaml_child(filter, item, col, false, opts, out)?;
    }
    Ok(())
}

/// Writes the node after `key:` (`in_mapping`) or after `-`, and the line end.
pub(super) fn yaml_child(
    filter: &str,
    value: &Value,
    col: usize,
    in_mapping: bool,
    opts: &YamlOpts,
    out: &mut String,
) -> Result<(), Error> {
    let ind = opts.indent;
    match yaml_node(value, opts)? {
        YamlNode::Map(entries) => {
            if in_mapping {
                out.push('\n');
                out.push_str(&" ".repeat(col + ind));
            } else {
                out.push_str(&" ".repeat(ind - 1));
            }
            yaml_mapping(filter, &entries, col + ind, opts, out)
        }
        YamlNode::Seq(items) if in_mapping => {
            out.push('\n');
            out.push_str(&" ".repeat(col));
            yaml_sequence(filter, &items, col, opts, out)
        }
        YamlNode::Seq(items) => {
            out.push_str(&" ".repeat(ind - 1));
            yaml_sequence(filter, &items, col + ind, opts, out)
        }
        YamlNode::Scalar => {
            out.push(' ');
            out.push_str(&yaml_scalar(filter, value, col + ind)?);
            out.push('\n');
            Ok(())
        }
    }
}

pub(super) fn yaml_document(filter: &str, value: &Value, opts: &YamlOpts) -> Result<String, Error> {
    let mut out = String::new();
    match yaml_node(value, opts)? {
        YamlNode::Map(entries) => yaml_mapping(filter, &entries, 0, opts, &mut out)?,
        YamlNode::Seq(items) => yaml_sequence(filter, &items, 0, opts, &mut out)?,
        YamlNode::Scalar => {
            out.push_str(&yaml_scalar(filter, value, opts.indent)?);
            out.push('\n');
        }
    }
    Ok(out)
}

pub(super) fn yaml_opts(
    filter: &str,
    indent: Option<usize>,
    kwargs: &Kwargs,
) -> Result<YamlOpts, Error> {
    let indent = pos_or_kw(filter, indent, kwargs, "indent")?.unwrap_or(2);
    if !(2..=9).contains(&indent) {
        return Err(err(
            filter,
            format!("indent must be between 2 and 9, got {indent}"),
        ));
    }
    let sort_keys = kw(filter, kwargs, "sort_keys")?.unwrap_or(false);
    all_used(filter, kwargs)?;
    Ok(YamlOpts { indent, sort_keys })
}

/// `to_yaml(indent=2, sort_keys=false)`: block-style YAML.
pub(super) fn to_yaml(state: &State, value: &Value, kwargs: Kwargs) -> Result<String, Error> {
    defined(state, value)?;
    let opts = yaml_opts("to_yaml", None, &kwargs)?;
    yaml_document("to_yaml", value, &opts)
}

/// `to_nice_yaml(indent=2, sort_keys=false)`: block-style YAML, PyYAML layout.
pub(super) fn to_nice_yaml(
    state: &State,
    value: &Value,
    indent: Option<usize>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    defined(state, value)?;
    let opts = yaml_opts("to_nice_yaml", indent, &kwargs)?;
    yaml_document("to_nice_yaml", value, &opts)
}
