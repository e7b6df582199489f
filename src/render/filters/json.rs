//! `to_json`, `to_nice_json`, `from_json`: Python `json.dumps` layout, byte for byte.

use super::*;

pub(super) struct JsonOpts {
    indent: Option<usize>,
    sort_keys: bool,
    ensure_ascii: bool,
}

pub(super) fn json_string(s: &str, ensure_ascii: bool, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (ensure_ascii && (c as u32) > 0x7e) => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

pub(super) fn json_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        py_float_repr(f)
    }
}

pub(super) fn json_key(filter: &str, key: &Value) -> Result<String, Error> {
    Ok(match key.kind() {
        ValueKind::String => key.as_str().unwrap_or_default().to_string(),
        ValueKind::Bool => if key.is_true() { "true" } else { "false" }.to_string(),
        ValueKind::None => "null".to_string(),
        ValueKind::Number if key.is_integer() => key.to_string(),
        ValueKind::Number => as_f64(key).map(json_float).unwrap_or_default(),
        kind => {
            return Err(err(
                filter,
                format!("keys must be str, int, float, bool or none, not {kind}"),
            ));
        }
    })
}

pub(super) fn json_newline(opts: &JsonOpts, depth: usize, out: &mut String) {
    if let Some(indent) = opts.indent {
        out.push('\n');
        out.push_str(&" ".repeat(indent * depth));
    }
}

pub(super) fn json_dump(
    filter: &str,
    value: &Value,
    opts: &JsonOpts,
    depth: usize,
    out: &mut String,
) -> Result<(), Error> {
    let item_sep = if opts.indent.is_some() { "," } else { ", " };
    match value.kind() {
        ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
        ValueKind::Number if value.is_integer() => out.push_str(&value.to_string()),
        ValueKind::Number => match as_f64(value) {
            Some(f) => out.push_str(&json_float(f)),
            None => return Err(err(filter, "number is not representable")),
        },
        ValueKind::String => {
            json_string(value.as_str().unwrap_or_default(), opts.ensure_ascii, out)
        }
        _ if is_map(value) => {
            let mut entries = map_entries(value)?;
            if entries.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            if opts.sort_keys {
                entries.sort_by(|a, b| a.0.cmp(&b.0));
            }
            out.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                json_newline(opts, depth + 1, out);
                json_string(&json_key(filter, k)?, opts.ensure_ascii, out);
                out.push_str(": ");
                json_dump(filter, v, opts, depth + 1, out)?;
            }
            json_newline(opts, depth, out);
            out.push('}');
        }
        _ if is_seq(value) => {
            let items = seq_items(value)?;
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(item_sep);
                }
                json_newline(opts, depth + 1, out);
                json_dump(filter, v, opts, depth + 1, out)?;
            }
            json_newline(opts, depth, out);
            out.push(']');
        }
        kind => {
            return Err(err(
                filter,
                format!("cannot serialize a value of type {kind}"),
            ));
        }
    }
    Ok(())
}

pub(super) fn json_opts(
    filter: &str,
    kwargs: &Kwargs,
    indent: Option<usize>,
    sort_keys: bool,
) -> Result<JsonOpts, Error> {
    let opts = JsonOpts {
        indent,
        sort_keys: kw(filter, kwargs, "sort_keys")?.unwrap_or(sort_keys),
        ensure_ascii: kw(filter, kwargs, "ensure_ascii")?.unwrap_or(true),
    };
    all_used(filter, kwargs)?;
    Ok(opts)
}

/// `to_json(indent=none, sort_keys=false, ensure_ascii=true)`: Python's `json.dumps`.
pub(super) fn to_json(state: &State, value: &Value, kwargs: Kwargs) -> Result<String, Error> {
    defined(state, value)?;
    let indent = kw("to_json", &kwargs, "indent")?;
    let opts = json_opts("to_json", &kwargs, indent, false)?;
    let mut out = String::new();
    json_dump("to_json", value, &opts, 0, &mut out)?;
    Ok(out)
}

/// Jinja2's `tojson(indent=none)`: `json.dumps(value, sort_keys=True)` (so `ensure_ascii`),
/// then made HTML-safe like Jinja2's `htmlsafe_json_dumps`: `<`, `>`, `&`, `'` as `\u00XX`.
/// minijinja's own `tojson` keeps insertion order and other separators; this one renders
/// templates written for Python's Jinja2 byte for byte.
pub(super) fn tojson(state: &State, value: &Value, kwargs: Kwargs) -> Result<Value, Error> {
    defined(state, value)?;
    let opts = JsonOpts {
        indent: kw("tojson", &kwargs, "indent")?,
        sort_keys: true,
        ensure_ascii: true,
    };
    all_used("tojson", &kwargs)?;
    let mut out = String::new();
    json_dump("tojson", value, &opts, 0, &mut out)?;
    let safe = out
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\'', "\\u0027");
    Ok(Value::from_safe_string(safe))
}

/// `to_nice_json(indent=4, sort_keys=true, ensure_ascii=true)`.
pub(super) fn to_nice_json(
    state: &State,
    value: &Value,
    indent: Option<usize>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    defined(state, value)?;
    let indent = pos_or_kw("to_nice_json", indent, &kwargs, "indent")?.unwrap_or(4);
    let opts = json_opts("to_nice_json", &kwargs, Some(indent), true)?;
    let mut out = String::new();
    json_dump("to_nice_json", value, &opts, 0, &mut out)?;
    Ok(out)
}

/// `from_json`: parses a JSON document (key order kept).
pub(super) fn from_json(value: String) -> Result<Value, Error> {
    serde_json::from_str::<Value>(&value)
        .map_err(|e| err("from_json", format!("invalid JSON: {e}")))
}

/// `from_yaml`: parses a YAML document (YAML 1.2; an empty document is none).
pub(super) fn from_yaml(value: String) -> Result<Value, Error> {
    if value.trim().is_empty() {
        return Ok(Value::from(()));
    }
    serde_norway::from_str::<Value>(&value)
        .map_err(|e| err("from_yaml", format!("invalid YAML: {e}")))
}
