//! Ansible-style filters and `wg_pubkey` for the template environment.
//!
//! The filters follow Ansible's (Jinja2/Python) semantics; the deliberate differences are:
//!
//! - `to_yaml` is block style (Ansible: flow style for leaf collections); `to_yaml` and
//!   `to_nice_yaml` keep the keys' insertion order (Ansible sorts; pass `sort_keys=true`) and
//!   `to_nice_yaml` indents by 2 by default (Ansible: 4). Multi-line strings become literal
//!   blocks (`|`). Strings that YAML 1.1 (PyYAML) or YAML 1.2 would read as something else
//!   (`'yes'`, `'on'`, `'1:20'`, `'1.0'`, `'null'`…) are quoted.
//! - `from_yaml` parses YAML 1.2 (`yes`/`on` stay strings).
//! - `bool` accepts `y/yes/on/1/true/t` and `n/no/off/0/false/f/''` (case-insensitive) and
//!   errors on anything else instead of silently returning false.
//! - `hash` supports sha224/sha256/sha384/sha512 only (Ansible's default sha1 is not supported:
//!   the algorithm must be given).
//! - `mandatory` also rejects `none`.
//! - `ipaddr` supports the queries documented on [`ipaddr`]; `'address'` always strips the
//!   prefix length (Ansible returns none for the network address of a subnet).
//!
//! Undefined input propagates minijinja's strict-undefined error. Every other error names the
//! filter (`wg_pubkey: not a base64-encoded 32-byte key`).

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use minijinja::value::{Kwargs, Rest, StringInput, ValueKind, ValueOrKwargs};
use minijinja::{Environment, Error, ErrorKind, State, Value};
use regex::{Regex, RegexBuilder};
use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};

/// Registers every nxinfra filter on `env`.
///
/// Call it after `minijinja_contrib::add_to_environment` so these definitions win (`bool`
/// replaces minijinja's builtin with Ansible's string semantics).
pub fn register(env: &mut Environment<'_>) {
    env.add_filter("to_yaml", to_yaml);
    env.add_filter("to_nice_yaml", to_nice_yaml);
    env.add_filter("to_json", to_json);
    env.add_filter("to_nice_json", to_nice_json);
    env.add_filter("from_json", from_json);
    env.add_filter("from_yaml", from_yaml);
    env.add_filter("b64encode", b64encode);
    env.add_filter("b64decode", b64decode);
    env.add_filter("regex_replace", regex_replace);
    env.add_filter("regex_search", regex_search);
    env.add_filter("regex_findall", regex_findall);
    env.add_filter("combine", combine);
    env.add_filter("hash", hash);
    env.add_filter("wg_pubkey", wg_pubkey);
    env.add_filter("ternary", ternary);
    env.add_filter("bool", to_bool);
    env.add_filter("dict2items", dict2items);
    env.add_filter("items2dict", items2dict);
    env.add_filter("basename", basename);
    env.add_filter("dirname", dirname);
    env.add_filter("quote", quote);
    env.add_filter("mandatory", mandatory);
    env.add_filter("flatten", flatten);
    env.add_filter("ipaddr", ipaddr);
    env.add_filter("ipv4", ipv4);
    env.add_filter("ipv6", ipv6);
}

// ---------------------------------------------------------------------------------------------
// helpers

/// An `InvalidOperation` error whose message starts with the filter's name.
fn err(filter: &str, msg: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::InvalidOperation, format!("{filter}: {msg}"))
}

/// Returns minijinja's own undefined error (strict mode) when `value` is undefined.
fn defined(state: &State, value: &Value) -> Result<(), Error> {
    if value.is_undefined() {
        StringInput::new(state, value)?;
    }
    Ok(())
}

/// Reads keyword argument `key`, naming the filter if it has the wrong type.
fn kw<T>(filter: &str, kwargs: &Kwargs, key: &str) -> Result<Option<T>, Error>
where
    T: for<'a> minijinja::value::ArgType<'a, Output = T>,
{
    let value: Option<Value> = kwargs.get(key)?;
    match value {
        None => Ok(None),
        Some(v) if v.is_none() || v.is_undefined() => Ok(None),
        Some(v) => T::from_value(Some(&v))
            .map(Some)
            .map_err(|e| err(filter, format!("invalid value for '{key}': {e}"))),
    }
}

/// An argument that may be given positionally or as keyword (not both).
fn pos_or_kw<T>(
    filter: &str,
    pos: Option<T>,
    kwargs: &Kwargs,
    key: &str,
) -> Result<Option<T>, Error>
where
    T: for<'a> minijinja::value::ArgType<'a, Output = T>,
{
    let named = kw::<T>(filter, kwargs, key)?;
    match (pos, named) {
        (Some(_), Some(_)) => Err(err(filter, format!("'{key}' given twice"))),
        (Some(v), None) | (None, Some(v)) => Ok(Some(v)),
        (None, None) => Ok(None),
    }
}

/// Checks that every keyword argument was consumed, naming the filter otherwise.
fn all_used(filter: &str, kwargs: &Kwargs) -> Result<(), Error> {
    kwargs.assert_all_used().map_err(|e| err(filter, e))
}

/// Splits variadic arguments into positional values and keyword arguments.
fn split_kwargs(args: Rest<ValueOrKwargs>) -> Result<(Vec<Value>, Kwargs), Error> {
    let mut values = args.into_values();
    let kwargs = match values.last() {
        Some(last) if last.is_kwargs() => {
            let last = values.pop().unwrap_or_default();
            Kwargs::try_from(last)?
        }
        _ => Kwargs::from_iter(std::iter::empty::<(&str, Value)>()),
    };
    Ok((values, kwargs))
}

fn is_map(value: &Value) -> bool {
    value.kind() == ValueKind::Map && !value.is_kwargs()
}

fn is_seq(value: &Value) -> bool {
    matches!(value.kind(), ValueKind::Seq | ValueKind::Iterable)
}

/// The entries of a map value, in iteration (insertion) order.
fn map_entries(value: &Value) -> Result<Vec<(Value, Value)>, Error> {
    let mut out = Vec::new();
    for key in value.try_iter()? {
        let item = value.get_item(&key)?;
        out.push((key, item));
    }
    Ok(out)
}

fn seq_items(value: &Value) -> Result<Vec<Value>, Error> {
    Ok(value.try_iter()?.collect())
}

/// Python's `str()` of a scalar (`True`, `None`, numbers, strings as they are).
fn py_str(value: &Value) -> String {
    match value.kind() {
        ValueKind::String => value.as_str().unwrap_or_default().to_string(),
        ValueKind::Bool => if value.is_true() { "True" } else { "False" }.to_string(),
        ValueKind::None => "None".to_string(),
        ValueKind::Number if !value.is_integer() => match f64::try_from(value.clone()) {
            Ok(f) => py_float_repr(f),
            Err(_) => value.to_string(),
        },
        _ => value.to_string(),
    }
}

/// Python's `repr(float)`: shortest round-trip digits, exponent form outside 1e-4..1e16.
fn py_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let decpt = exp + 1;
    if decpt <= -4 || decpt > 16 {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{first}{frac}e{esign}{:02}", exp.unsigned_abs())
    } else if decpt <= 0 {
        format!(
            "{sign}0.{}{digits}",
            "0".repeat(decpt.unsigned_abs() as usize)
        )
    } else {
        let decpt = decpt as usize;
        if decpt >= digits.len() {
            format!("{sign}{digits}{}.0", "0".repeat(decpt - digits.len()))
        } else {
            format!("{sign}{}.{}", &digits[..decpt], &digits[decpt..])
        }
    }
}

fn as_f64(value: &Value) -> Option<f64> {
    f64::try_from(value.clone()).ok()
}

// ---------------------------------------------------------------------------------------------
// JSON

struct JsonOpts {
    indent: Option<usize>,
    sort_keys: bool,
    ensure_ascii: bool,
}

fn json_string(s: &str, ensure_ascii: bool, out: &mut String) {
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

fn json_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        py_float_repr(f)
    }
}

fn json_key(filter: &str, key: &Value) -> Result<String, Error> {
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

fn json_newline(opts: &JsonOpts, depth: usize, out: &mut String) {
    if let Some(indent) = opts.indent {
        out.push('\n');
        out.push_str(&" ".repeat(indent * depth));
    }
}

fn json_dump(
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

fn json_opts(
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
fn to_json(state: &State, value: &Value, kwargs: Kwargs) -> Result<String, Error> {
    defined(state, value)?;
    let indent = kw("to_json", &kwargs, "indent")?;
    let opts = json_opts("to_json", &kwargs, indent, false)?;
    let mut out = String::new();
    json_dump("to_json", value, &opts, 0, &mut out)?;
    Ok(out)
}

/// `to_nice_json(indent=4, sort_keys=true, ensure_ascii=true)`.
fn to_nice_json(
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
fn from_json(value: String) -> Result<Value, Error> {
    serde_json::from_str::<Value>(&value)
        .map_err(|e| err("from_json", format!("invalid JSON: {e}")))
}

/// `from_yaml`: parses a YAML document (YAML 1.2; an empty document is none).
fn from_yaml(value: String) -> Result<Value, Error> {
    if value.trim().is_empty() {
        return Ok(Value::from(()));
    }
    serde_norway::from_str::<Value>(&value)
        .map_err(|e| err("from_yaml", format!("invalid YAML: {e}")))
}

// ---------------------------------------------------------------------------------------------
// YAML

struct YamlOpts {
    indent: usize,
    sort_keys: bool,
}

/// Strings PyYAML (YAML 1.1) resolves to a non-string type when plain: bool, int, float, null,
/// timestamp, merge and value keys.
static YAML11_IMPLICIT: LazyLock<Regex> = LazyLock::new(|| {
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
fn yaml_double_quoted(s: &str) -> String {
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
fn yaml_string(filter: &str, s: &str, content_col: usize) -> Result<String, Error> {
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

fn yaml_float(f: f64) -> String {
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
fn yaml_scalar(filter: &str, value: &Value, content_col: usize) -> Result<String, Error> {
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

fn yaml_key(filter: &str, key: &Value) -> Result<String, Error> {
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

enum YamlNode {
    Map(Vec<(Value, Value)>),
    Seq(Vec<Value>),
    Scalar,
}

fn yaml_node(value: &Value, opts: &YamlOpts) -> Result<YamlNode, Error> {
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
fn yaml_mapping(
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
fn yaml_sequence(
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
fn yaml_child(
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

fn yaml_document(filter: &str, value: &Value, opts: &YamlOpts) -> Result<String, Error> {
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

fn yaml_opts(filter: &str, indent: Option<usize>, kwargs: &Kwargs) -> Result<YamlOpts, Error> {
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
fn to_yaml(state: &State, value: &Value, kwargs: Kwargs) -> Result<String, Error> {
    defined(state, value)?;
    let opts = yaml_opts("to_yaml", None, &kwargs)?;
    yaml_document("to_yaml", value, &opts)
}

/// `to_nice_yaml(indent=2, sort_keys=false)`: block-style YAML, PyYAML layout.
fn to_nice_yaml(
    state: &State,
    value: &Value,
    indent: Option<usize>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    defined(state, value)?;
    let opts = yaml_opts("to_nice_yaml", indent, &kwargs)?;
    yaml_document("to_nice_yaml", value, &opts)
}

// ---------------------------------------------------------------------------------------------
// base64, hashes, WireGuard

/// `b64encode`: standard base64 (with padding) of the UTF-8 string.
fn b64encode(value: String) -> String {
    STANDARD.encode(value.as_bytes())
}

/// `b64decode`: decodes standard base64 (whitespace ignored) to a UTF-8 string.
fn b64decode(value: String) -> Result<String, Error> {
    let compact: String = value.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = STANDARD
        .decode(compact.as_bytes())
        .map_err(|e| err("b64decode", format!("invalid base64: {e}")))?;
    String::from_utf8(bytes).map_err(|_| err("b64decode", "decoded data is not valid UTF-8"))
}

/// `hash(algorithm)`: hex digest of the UTF-8 string.
fn hash(value: String, algorithm: Option<String>) -> Result<String, Error> {
    let Some(algorithm) = algorithm else {
        return Err(err(
            "hash",
            "an algorithm is required (Ansible's default sha1 is not supported): \
             use sha224, sha256, sha384 or sha512",
        ));
    };
    let data = value.as_bytes();
    Ok(match algorithm.to_ascii_lowercase().as_str() {
        "sha224" => hex::encode(Sha224::digest(data)),
        "sha256" => hex::encode(Sha256::digest(data)),
        "sha384" => hex::encode(Sha384::digest(data)),
        "sha512" => hex::encode(Sha512::digest(data)),
        _ => {
            return Err(err(
                "hash",
                format!(
                    "unsupported algorithm '{algorithm}' (supported: sha224, sha256, sha384, sha512)"
                ),
            ));
        }
    })
}

/// `wg_pubkey`: the base64 WireGuard public key of a base64 private key.
fn wg_pubkey(value: String) -> Result<String, Error> {
    let invalid = || err("wg_pubkey", "not a base64-encoded 32-byte key");
    let bytes = STANDARD
        .decode(value.trim().as_bytes())
        .map_err(|_| invalid())?;
    let key: [u8; 32] = bytes.try_into().map_err(|_| invalid())?;
    // A hub's config derives every peer's public key, and every hub does it again: memoize,
    // keyed by a digest so the cache holds no second copy of any private key.
    let digest: [u8; 32] = Sha256::digest(key).into();
    static CACHE: LazyLock<std::sync::Mutex<std::collections::HashMap<[u8; 32], String>>> =
        LazyLock::new(Default::default);
    let cache = &*CACHE;
    if let Some(public) = cache.lock().ok().and_then(|c| c.get(&digest).cloned()) {
        return Ok(public);
    }
    let secret = x25519_dalek::StaticSecret::from(key);
    let public = STANDARD.encode(x25519_dalek::PublicKey::from(&secret).as_bytes());
    if let Ok(mut c) = cache.lock() {
        c.insert(digest, public.clone());
    }
    Ok(public)
}

// ---------------------------------------------------------------------------------------------
// regular expressions (Python `re` flavour)

/// Python-only pattern syntax translated to the regex crate's (`\Z` → `\z`).
fn translate_pattern(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('Z') => out.push_str("\\z"),
            Some(n) => {
                out.push('\\');
                out.push(n);
            }
            None => out.push('\\'),
        }
    }
    out
}

fn compile_regex(
    filter: &str,
    pattern: &str,
    ignorecase: bool,
    multiline: bool,
) -> Result<Regex, Error> {
    RegexBuilder::new(&translate_pattern(pattern))
        .case_insensitive(ignorecase)
        .multi_line(multiline)
        .build()
        .map_err(|e| err(filter, format!("invalid regular expression: {e}")))
}

/// Resolves a Python group reference (`1`, `name`) against `re`.
fn group_ref(filter: &str, re: &Regex, name: &str) -> Result<GroupRef, Error> {
    if !name.is_empty() && name.chars().all(|c| c.is_ascii_digit()) {
        let index: usize = name
            .parse()
            .map_err(|_| err(filter, format!("invalid group reference {name}")))?;
        if index >= re.captures_len() {
            return Err(err(filter, format!("invalid group reference {index}")));
        }
        return Ok(GroupRef::Index(index));
    }
    if re.capture_names().flatten().any(|n| n == name) {
        Ok(GroupRef::Name(name.to_string()))
    } else {
        Err(err(filter, format!("unknown group name '{name}'")))
    }
}

enum GroupRef {
    Index(usize),
    Name(String),
}

fn push_literal(out: &mut String, c: char) {
    if c == '$' {
        out.push_str("$$");
    } else {
        out.push(c);
    }
}

fn is_octal(c: Option<&char>) -> bool {
    matches!(c, Some('0'..='7'))
}

/// Translates a Python `re.sub` replacement (`\1`, `\g<name>`, `\g<1>`, `\n`…) to the regex
/// crate's syntax (`${1}`, `${name}`; literal `$` doubled).
fn translate_replacement(filter: &str, repl: &str, re: &Regex) -> Result<String, Error> {
    let chars: Vec<char> = repl.chars().collect();
    let mut out = String::with_capacity(repl.len());
    let mut i = 0;
    let push_group = |out: &mut String, group: GroupRef| match group {
        GroupRef::Index(n) => {
            let _ = write!(out, "${{{n}}}");
        }
        GroupRef::Name(n) => {
            let _ = write!(out, "${{{n}}}");
        }
    };
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        if c != '\\' {
            push_literal(&mut out, c);
            continue;
        }
        let Some(&n) = chars.get(i) else {
            return Err(err(filter, "bad escape (end of replacement)"));
        };
        i += 1;
        match n {
            'g' => {
                if chars.get(i) != Some(&'<') {
                    return Err(err(filter, "missing < after \\g in replacement"));
                }
                let Some(len) = chars[i + 1..].iter().position(|c| *c == '>') else {
                    return Err(err(
                        filter,
                        "missing >, unterminated group name in replacement",
                    ));
                };
                let name: String = chars[i + 1..i + 1 + len].iter().collect();
                i += len + 2;
                push_group(&mut out, group_ref(filter, re, &name)?);
            }
            '0' => {
                let mut code = 0u32;
                for _ in 0..2 {
                    if is_octal(chars.get(i)) {
                        code = code * 8 + chars[i].to_digit(8).unwrap_or(0);
                        i += 1;
                    }
                }
                push_literal(&mut out, char::from_u32(code).unwrap_or('\0'));
            }
            '1'..='9' => {
                let mut digits = n.to_string();
                if let Some(&d2) = chars.get(i).filter(|d| d.is_ascii_digit()) {
                    if is_octal(Some(&n)) && is_octal(Some(&d2)) && is_octal(chars.get(i + 1)) {
                        let text: String = [n, d2, chars[i + 1]].iter().collect();
                        let code = u32::from_str_radix(&text, 8).unwrap_or(0);
                        if code > 0o377 {
                            return Err(err(
                                filter,
                                format!("octal escape value \\{text} outside of range 0-0o377"),
                            ));
                        }
                        push_literal(&mut out, char::from_u32(code).unwrap_or('\0'));
                        i += 2;
                        continue;
                    }
                    digits.push(d2);
                    i += 1;
                }
                push_group(&mut out, group_ref(filter, re, &digits)?);
            }
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'v' => out.push('\u{b}'),
            '\\' => out.push('\\'),
            n if n.is_ascii_alphabetic() => {
                return Err(err(filter, format!("bad escape \\{n} in replacement")));
            }
            n => {
                out.push('\\');
                push_literal(&mut out, n);
            }
        }
    }
    Ok(out)
}

fn regex_flags(filter: &str, kwargs: &Kwargs) -> Result<(bool, bool), Error> {
    Ok((
        kw(filter, kwargs, "ignorecase")?.unwrap_or(false),
        kw(filter, kwargs, "multiline")?.unwrap_or(false),
    ))
}

/// `regex_replace(pattern, replacement='', ignorecase=false, multiline=false, count=0,
/// mandatory_count=0)`: Python's `re.sub`.
fn regex_replace(
    value: String,
    pattern: String,
    replacement: Option<String>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    const F: &str = "regex_replace";
    let (ignorecase, multiline) = regex_flags(F, &kwargs)?;
    let count: usize = kw(F, &kwargs, "count")?.unwrap_or(0);
    let mandatory_count: usize = kw(F, &kwargs, "mandatory_count")?.unwrap_or(0);
    all_used(F, &kwargs)?;
    let re = compile_regex(F, &pattern, ignorecase, multiline)?;
    let template = translate_replacement(F, replacement.as_deref().unwrap_or(""), &re)?;
    if mandatory_count > 0 {
        let found = re.find_iter(&value).count();
        let replaced = if count > 0 { found.min(count) } else { found };
        if replaced != mandatory_count {
            return Err(err(
                F,
                format!(
                    "'{pattern}' should match {mandatory_count} times, but matches {replaced} times"
                ),
            ));
        }
    }
    Ok(re.replacen(&value, count, template.as_str()).into_owned())
}

/// `regex_search(pattern, '\\1'…, ignorecase=false, multiline=false)`: the first match (or the
/// listed groups of it), none when nothing matches.
fn regex_search(value: String, pattern: String, args: Rest<ValueOrKwargs>) -> Result<Value, Error> {
    const F: &str = "regex_search";
    let (args, kwargs) = split_kwargs(args)?;
    let (ignorecase, multiline) = regex_flags(F, &kwargs)?;
    all_used(F, &kwargs)?;
    let re = compile_regex(F, &pattern, ignorecase, multiline)?;
    let mut groups = Vec::new();
    for arg in &args {
        let arg = arg.as_str().unwrap_or_default();
        let name = if let Some(rest) = arg.strip_prefix("\\g<") {
            rest.strip_suffix('>')
        } else {
            arg.strip_prefix('\\')
                .filter(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()))
        };
        let Some(name) = name else {
            return Err(err(
                F,
                format!("unknown argument '{arg}' (expected '\\N' or '\\g<name>')"),
            ));
        };
        groups.push(group_ref(F, &re, name)?);
    }
    let Some(caps) = re.captures(&value) else {
        return Ok(Value::from(()));
    };
    if groups.is_empty() {
        return Ok(Value::from(
            caps.get(0).map(|m| m.as_str()).unwrap_or_default(),
        ));
    }
    let found = groups.iter().map(|g| {
        let m = match g {
            GroupRef::Index(i) => caps.get(*i),
            GroupRef::Name(n) => caps.name(n),
        };
        m.map(|m| Value::from(m.as_str()))
            .unwrap_or(Value::from(()))
    });
    Ok(Value::from(found.collect::<Vec<_>>()))
}

/// `regex_findall(pattern, multiline=false, ignorecase=false)`: Python's `re.findall` (whole
/// matches, the single group, or lists of the groups).
fn regex_findall(value: String, pattern: String, kwargs: Kwargs) -> Result<Value, Error> {
    const F: &str = "regex_findall";
    let (ignorecase, multiline) = regex_flags(F, &kwargs)?;
    all_used(F, &kwargs)?;
    let re = compile_regex(F, &pattern, ignorecase, multiline)?;
    let groups = re.captures_len() - 1;
    let text = |m: Option<regex::Match<'_>>| Value::from(m.map(|m| m.as_str()).unwrap_or(""));
    let found: Vec<Value> = re
        .captures_iter(&value)
        .map(|caps| match groups {
            0 => text(caps.get(0)),
            1 => text(caps.get(1)),
            _ => Value::from((1..=groups).map(|i| text(caps.get(i))).collect::<Vec<_>>()),
        })
        .collect();
    Ok(Value::from(found))
}

// ---------------------------------------------------------------------------------------------
// combine

#[derive(Clone, Copy, PartialEq)]
enum ListMerge {
    Replace,
    Keep,
    Append,
    Prepend,
    AppendRp,
    PrependRp,
}

type Entries = Vec<(Value, Value)>;

fn entry_index(entries: &Entries, key: &Value) -> Option<usize> {
    entries.iter().position(|(k, _)| k == key)
}

/// Ansible's `merge_hash(x, y)`: `y` wins.
fn merge_hash(
    x: &Entries,
    y: &Entries,
    recursive: bool,
    list_merge: ListMerge,
) -> Result<Entries, Error> {
    if x.is_empty() || x == y {
        return Ok(y.clone());
    }
    let mut out = x.clone();
    for (key, y_value) in y {
        let Some(index) = entry_index(&out, key) else {
            out.push((key.clone(), y_value.clone()));
            continue;
        };
        let x_value = &out[index].1;
        let merged = if !recursive && list_merge == ListMerge::Replace {
            y_value.clone()
        } else if is_map(x_value) && is_map(y_value) {
            if recursive {
                let inner = merge_hash(
                    &map_entries(x_value)?,
                    &map_entries(y_value)?,
                    true,
                    list_merge,
                )?;
                Value::from_pairs(inner)
            } else {
                y_value.clone()
            }
        } else if is_seq(x_value) && is_seq(y_value) {
            let xs = seq_items(x_value)?;
            let ys = seq_items(y_value)?;
            let x_only = || xs.iter().filter(|z| !ys.contains(z)).cloned();
            match list_merge {
                ListMerge::Replace => y_value.clone(),
                ListMerge::Keep => x_value.clone(),
                ListMerge::Append => Value::from_iter(xs.iter().chain(&ys).cloned()),
                ListMerge::Prepend => Value::from_iter(ys.iter().chain(&xs).cloned()),
                ListMerge::AppendRp => Value::from_iter(x_only().chain(ys.iter().cloned())),
                ListMerge::PrependRp => Value::from_iter(ys.iter().cloned().chain(x_only())),
            }
        } else {
            y_value.clone()
        };
        out[index].1 = merged;
    }
    Ok(out)
}

/// `combine(*dicts, recursive=false, list_merge='replace')`: later dicts win; lists of dicts
/// are flattened one level (`[a, b] | combine`).
fn combine(state: &State, value: &Value, args: Rest<ValueOrKwargs>) -> Result<Value, Error> {
    const F: &str = "combine";
    defined(state, value)?;
    let (args, kwargs) = split_kwargs(args)?;
    let recursive = kw(F, &kwargs, "recursive")?.unwrap_or(false);
    let list_merge: Option<String> = kw(F, &kwargs, "list_merge")?;
    all_used(F, &kwargs)?;
    let list_merge = match list_merge.as_deref().unwrap_or("replace") {
        "replace" => ListMerge::Replace,
        "keep" => ListMerge::Keep,
        "append" => ListMerge::Append,
        "prepend" => ListMerge::Prepend,
        "append_rp" => ListMerge::AppendRp,
        "prepend_rp" => ListMerge::PrependRp,
        other => {
            return Err(err(
                F,
                format!(
                    "list_merge must be one of replace, keep, append, prepend, append_rp, prepend_rp, not '{other}'"
                ),
            ));
        }
    };
    let mut dicts = Vec::new();
    let mut push = |v: &Value| -> Result<(), Error> {
        defined(state, v)?;
        if is_map(v) {
            dicts.push(map_entries(v)?);
            Ok(())
        } else {
            Err(err(F, format!("expected dicts, got {}", v.kind())))
        }
    };
    for term in std::iter::once(value).chain(args.iter()) {
        defined(state, term)?;
        if is_seq(term) {
            for item in seq_items(term)? {
                push(&item)?;
            }
        } else {
            push(term)?;
        }
    }
    let mut dicts = dicts.into_iter().rev();
    let Some(mut result) = dicts.next() else {
        return Ok(Value::from_pairs(Vec::<(Value, Value)>::new()));
    };
    for dict in dicts {
        result = merge_hash(&dict, &result, recursive, list_merge)?;
    }
    Ok(Value::from_pairs(result))
}

// ---------------------------------------------------------------------------------------------
// small Ansible helpers

/// `ternary(true_val, false_val, none_val=none)`: Python truthiness of the input.
fn ternary(
    state: &State,
    value: &Value,
    true_val: Value,
    false_val: Value,
    none_val: Option<Value>,
) -> Result<Value, Error> {
    defined(state, value)?;
    Ok(match none_val {
        Some(none_val) if value.is_none() => none_val,
        _ if value.is_true() => true_val,
        _ => false_val,
    })
}

/// `bool`: Ansible's boolean conversion (`'yes'`, `'on'`, `'1'`, `'true'` → true…).
fn to_bool(state: &State, value: &Value) -> Result<bool, Error> {
    const F: &str = "bool";
    defined(state, value)?;
    match value.kind() {
        ValueKind::Bool => Ok(value.is_true()),
        ValueKind::None => Ok(false),
        ValueKind::Number => match as_f64(value) {
            Some(1.0) => Ok(true),
            Some(0.0) => Ok(false),
            _ => Err(err(
                F,
                format!("cannot interpret {value} as a boolean (expected 1 or 0)"),
            )),
        },
        ValueKind::String => {
            let s = value.as_str().unwrap_or_default().trim().to_lowercase();
            match s.as_str() {
                "y" | "yes" | "on" | "1" | "true" | "t" => Ok(true),
                "n" | "no" | "off" | "0" | "false" | "f" | "" => Ok(false),
                _ => Err(err(
                    F,
                    format!(
                        "cannot interpret {value:?} as a boolean (expected yes/no, true/false, on/off, 1/0)"
                    ),
                )),
            }
        }
        kind => Err(err(F, format!("cannot interpret a {kind} as a boolean"))),
    }
}

fn names(
    filter: &str,
    key_name: Option<String>,
    value_name: Option<String>,
    kwargs: &Kwargs,
) -> Result<(String, String), Error> {
    let key_name = pos_or_kw(filter, key_name, kwargs, "key_name")?.unwrap_or_else(|| "key".into());
    let value_name =
        pos_or_kw(filter, value_name, kwargs, "value_name")?.unwrap_or_else(|| "value".into());
    all_used(filter, kwargs)?;
    Ok((key_name, value_name))
}

/// `dict2items(key_name='key', value_name='value')`.
fn dict2items(
    state: &State,
    value: &Value,
    key_name: Option<String>,
    value_name: Option<String>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    const F: &str = "dict2items";
    defined(state, value)?;
    let (key_name, value_name) = names(F, key_name, value_name, &kwargs)?;
    if !is_map(value) {
        return Err(err(
            F,
            format!("requires a dictionary, got {}", value.kind()),
        ));
    }
    let items = map_entries(value)?.into_iter().map(|(k, v)| {
        Value::from_pairs([
            (Value::from(key_name.as_str()), k),
            (Value::from(value_name.as_str()), v),
        ])
    });
    Ok(Value::from_iter(items))
}

/// `items2dict(key_name='key', value_name='value')`.
fn items2dict(
    state: &State,
    value: &Value,
    key_name: Option<String>,
    value_name: Option<String>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    const F: &str = "items2dict";
    defined(state, value)?;
    let (key_name, value_name) = names(F, key_name, value_name, &kwargs)?;
    if !is_seq(value) {
        return Err(err(F, format!("requires a list, got {}", value.kind())));
    }
    let mut out: Entries = Vec::new();
    for item in seq_items(value)? {
        if !is_map(&item) {
            return Err(err(
                F,
                format!("requires a list of dictionaries, got a {}", item.kind()),
            ));
        }
        let k = item.get_attr(&key_name)?;
        let v = item.get_attr(&value_name)?;
        if k.is_undefined() || v.is_undefined() {
            return Err(err(
                F,
                format!(
                    "every dictionary in the list must contain the keys '{key_name}' and '{value_name}'"
                ),
            ));
        }
        match entry_index(&out, &k) {
            Some(i) => out[i].1 = v,
            None => out.push((k, v)),
        }
    }
    Ok(Value::from_pairs(out))
}

/// `basename`: Python's `os.path.basename`.
fn basename(value: String) -> String {
    match value.rfind('/') {
        Some(i) => value[i + 1..].to_string(),
        None => value,
    }
}

/// `dirname`: Python's `os.path.dirname`.
fn dirname(value: String) -> String {
    let Some(i) = value.rfind('/') else {
        return String::new();
    };
    let head = &value[..=i];
    if head.chars().all(|c| c == '/') {
        head.to_string()
    } else {
        head.trim_end_matches('/').to_string()
    }
}

/// `quote`: Python's `shlex.quote` (none quotes as `''`).
fn quote(state: &State, value: &Value) -> Result<String, Error> {
    defined(state, value)?;
    if value.is_none() {
        return Ok("''".into());
    }
    if !matches!(
        value.kind(),
        ValueKind::String | ValueKind::Number | ValueKind::Bool
    ) {
        return Err(err("quote", format!("cannot quote a {}", value.kind())));
    }
    let s = py_str(value);
    if s.is_empty() {
        return Ok("''".into());
    }
    let safe = |c: char| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c);
    if s.chars().all(safe) {
        return Ok(s);
    }
    Ok(format!("'{}'", s.replace('\'', "'\"'\"'")))
}

/// `mandatory(msg=none)`: fails if the input is undefined or none.
fn mandatory(value: &Value, msg: Option<String>) -> Result<Value, Error> {
    if value.is_undefined() || value.is_none() {
        let what = if value.is_none() {
            "none"
        } else {
            "not defined"
        };
        return Err(err(
            "mandatory",
            msg.unwrap_or_else(|| format!("mandatory variable is {what}")),
        ));
    }
    Ok(value.clone())
}

fn flatten_into(
    value: &Value,
    levels: Option<i64>,
    skip_nulls: bool,
    out: &mut Vec<Value>,
) -> Result<(), Error> {
    for element in seq_items(value)? {
        if skip_nulls && (element.is_none() || matches!(element.as_str(), Some("None" | "null"))) {
            continue;
        }
        match levels {
            _ if !is_seq(&element) => out.push(element),
            None => flatten_into(&element, None, skip_nulls, out)?,
            Some(n) if n >= 1 => flatten_into(&element, Some(n - 1), skip_nulls, out)?,
            Some(_) => out.push(element),
        }
    }
    Ok(())
}

/// `flatten(levels=none, skip_nulls=true)`.
fn flatten(
    state: &State,
    value: &Value,
    levels: Option<i64>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    const F: &str = "flatten";
    defined(state, value)?;
    let levels = pos_or_kw(F, levels, &kwargs, "levels")?;
    let skip_nulls = kw(F, &kwargs, "skip_nulls")?.unwrap_or(true);
    all_used(F, &kwargs)?;
    if !is_seq(value) {
        return Err(err(F, format!("requires a list, got {}", value.kind())));
    }
    let mut out = Vec::new();
    flatten_into(value, levels, skip_nulls, &mut out)?;
    Ok(Value::from(out))
}

// ---------------------------------------------------------------------------------------------
// ipaddr

struct IpNet {
    addr: IpAddr,
    prefix: u8,
    had_prefix: bool,
}

impl IpNet {
    fn parse(s: &str) -> Option<IpNet> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().ok()?;
        let max = Self::max_prefix(addr);
        let prefix_len = match prefix {
            None => max,
            Some(p) if !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) => {
                p.parse::<u8>().ok().filter(|n| *n <= max)?
            }
            Some(p) => {
                // IPv4 dotted netmask (`10.0.0.1/255.255.255.0`)
                let mask = u32::from(p.parse::<Ipv4Addr>().ok().filter(|_| addr.is_ipv4())?);
                if mask.leading_ones() + mask.trailing_zeros() != 32 {
                    return None;
                }
                mask.leading_ones() as u8
            }
        };
        Some(IpNet {
            addr,
            prefix: prefix_len,
            had_prefix: prefix.is_some(),
        })
    }

    fn max_prefix(addr: IpAddr) -> u8 {
        if addr.is_ipv4() { 32 } else { 128 }
    }

    fn bits(&self) -> u32 {
        u32::from(Self::max_prefix(self.addr))
    }

    fn mask(&self) -> u128 {
        let width = self.bits();
        let all = if width == 32 {
            u128::from(u32::MAX)
        } else {
            u128::MAX
        };
        if self.prefix == 0 {
            0
        } else {
            (all << (width - u32::from(self.prefix))) & all
        }
    }

    fn to_int(&self) -> u128 {
        match self.addr {
            IpAddr::V4(a) => u128::from(u32::from(a)),
            IpAddr::V6(a) => u128::from(a),
        }
    }

    fn addr_at(&self, n: u128) -> IpAddr {
        match self.addr {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::from(n as u32)),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::from(n)),
        }
    }

    fn network(&self) -> u128 {
        self.to_int() & self.mask()
    }

    fn broadcast(&self) -> u128 {
        let all = if self.bits() == 32 {
            u128::from(u32::MAX)
        } else {
            u128::MAX
        };
        self.network() | (!self.mask() & all)
    }

    fn version(&self) -> u8 {
        if self.addr.is_ipv4() { 4 } else { 6 }
    }

    fn normalized(&self) -> String {
        if self.had_prefix {
            format!("{}/{}", self.addr, self.prefix)
        } else {
            self.addr.to_string()
        }
    }
}

/// Applies one `ipaddr` query to one value; `false` when the value is not an IP (of `version`).
fn ipaddr_one(
    filter: &str,
    value: &Value,
    query: &Value,
    version: Option<u8>,
) -> Result<Value, Error> {
    let Some(net) = value.as_str().and_then(IpNet::parse) else {
        return Ok(Value::from(false));
    };
    if version.is_some_and(|v| v != net.version()) {
        return Ok(Value::from(false));
    }
    if query.is_integer() {
        let n = i128::try_from(query.clone()).map_err(|_| err(filter, "invalid index"))?;
        if net.prefix == IpNet::max_prefix(net.addr) {
            return Ok(Value::from(net.addr.to_string()));
        }
        let addr = if n >= 0 {
            net.network()
                .checked_add(n.unsigned_abs())
                .filter(|a| *a <= net.broadcast())
        } else {
            // n = -1 is the last address
            net.broadcast()
                .checked_sub(n.unsigned_abs() - 1)
                .filter(|a| *a >= net.network())
        };
        return Ok(match addr {
            Some(a) => Value::from(format!("{}/{}", net.addr_at(a), net.prefix)),
            None => Value::from(false),
        });
    }
    let query = if query.is_none() || query.is_undefined() {
        ""
    } else {
        query.as_str().ok_or_else(|| {
            err(
                filter,
                format!("query must be a string or an integer, not {}", query.kind()),
            )
        })?
    };
    Ok(match query {
        "" | "bool" => Value::from(net.normalized()),
        "address" => Value::from(net.addr.to_string()),
        "prefix" => Value::from(net.prefix),
        "network" => Value::from(net.addr_at(net.network()).to_string()),
        "subnet" | "network/prefix" | "net" => {
            Value::from(format!("{}/{}", net.addr_at(net.network()), net.prefix))
        }
        "netmask" => Value::from(net.addr_at(net.mask()).to_string()),
        "broadcast" if net.version() == 4 => Value::from(net.addr_at(net.broadcast()).to_string()),
        "host" => Value::from(format!("{}/{}", net.addr, net.prefix)),
        "version" => Value::from(net.version()),
        "ipv4" | "4" => match net.version() {
            4 => Value::from(net.normalized()),
            _ => Value::from(false),
        },
        "ipv6" | "6" => match net.version() {
            6 => Value::from(net.normalized()),
            _ => Value::from(false),
        },
        other => {
            return Err(err(
                filter,
                format!(
                    "unknown query '{other}' (supported: address, prefix, network, subnet, netmask, \
                     broadcast, host, version, ipv4, ipv6, or an integer index)"
                ),
            ));
        }
    })
}

fn ipaddr_impl(
    filter: &str,
    state: &State,
    value: &Value,
    query: Option<Value>,
    version: Option<u8>,
) -> Result<Value, Error> {
    defined(state, value)?;
    let query = query.unwrap_or(Value::from(()));
    if is_seq(value) {
        let mut out = Vec::new();
        for item in seq_items(value)? {
            let result = ipaddr_one(filter, &item, &query, version)?;
            if result.is_true() {
                out.push(result);
            }
        }
        return Ok(Value::from(out));
    }
    ipaddr_one(filter, value, &query, version)
}

/// `ipaddr(query='')` on `"addr"` or `"addr/prefix"` strings (or lists of them); `false` for
/// anything that is not an IP address. Queries: `''` (validate), `address`, `prefix`,
/// `network`, `subnet`, `netmask`, `broadcast`, `host`, `version`, `ipv4`, `ipv6`, or an integer
/// `n` (the n-th address of the network, `addr/prefix`; negative counts from the end).
fn ipaddr(state: &State, value: &Value, query: Option<Value>) -> Result<Value, Error> {
    ipaddr_impl("ipaddr", state, value, query, None)
}

/// `ipv4(query='')`: `ipaddr` restricted to IPv4 values.
fn ipv4(state: &State, value: &Value, query: Option<Value>) -> Result<Value, Error> {
    ipaddr_impl("ipv4", state, value, query, Some(4))
}

/// `ipv6(query='')`: `ipaddr` restricted to IPv6 values.
fn ipv6(state: &State, value: &Value, query: Option<Value>) -> Result<Value, Error> {
    ipaddr_impl("ipv6", state, value, query, Some(6))
}

#[cfg(test)]
mod tests {
    use super::register;
    use minijinja::{Environment, ErrorKind, UndefinedBehavior, Value, context};

    fn env() -> Environment<'static> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        minijinja_contrib::add_to_environment(&mut env);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        register(&mut env);
        env
    }

    fn render_with(tmpl: &str, ctx: Value) -> Result<String, minijinja::Error> {
        env().render_str(tmpl, ctx)
    }

    fn render(tmpl: &str) -> String {
        match render_with(tmpl, context! {}) {
            Ok(s) => s,
            Err(e) => panic!("{tmpl}: {e:#}"),
        }
    }

    /// The error message (without the template excerpt) of a failing render.
    fn render_err(tmpl: &str) -> minijinja::Error {
        match render_with(tmpl, context! {}) {
            Ok(s) => panic!("{tmpl}: expected an error, got {s:?}"),
            Err(e) => e,
        }
    }

    fn err_msg(tmpl: &str) -> String {
        render_err(tmpl).detail().unwrap_or_default().to_string()
    }

    /// A document exercising every YAML/JSON layout rule (the JSON form of the context value).
    fn doc() -> Value {
        serde_json::from_str(
            r#"{"name": "web", "ports": [80, 443], "env": {"B": "yes", "A": "1.0"}, "tags": [],
                "opts": {}, "nested": [{"x": 1, "y": [1, 2]}], "ratio": 0.5, "on": true,
                "none": null}"#,
        )
        .expect("valid JSON")
    }

    fn render_doc(tmpl: &str) -> String {
        match render_with(tmpl, context! { d => doc() }) {
            Ok(s) => s,
            Err(e) => panic!("{tmpl}: {e:#}"),
        }
    }

    // -- YAML ----------------------------------------------------------------------------------

    #[test]
    fn to_nice_yaml_matches_pyyaml_block_layout() {
        // yaml.dump(d, indent=2, allow_unicode=True, default_flow_style=False, sort_keys=False)
        let expected = "name: web\nports:\n- 80\n- 443\nenv:\n  B: 'yes'\n  A: '1.0'\ntags: []\n\
                        opts: {}\nnested:\n- x: 1\n  y:\n  - 1\n  - 2\nratio: 0.5\n'on': true\n\
                        none: null\n";
        assert_eq!(render_doc("{{ d | to_nice_yaml }}"), expected);
        assert_eq!(render_doc("{{ d | to_nice_yaml(indent=2) }}"), expected);
        assert_eq!(render_doc("{{ d | to_yaml }}"), expected);
    }

    #[test]
    fn to_nice_yaml_indent_4_matches_pyyaml() {
        // yaml.dump(d, indent=4, allow_unicode=True, default_flow_style=False, sort_keys=False)
        let expected = "name: web\nports:\n- 80\n- 443\nenv:\n    B: 'yes'\n    A: '1.0'\n\
                        tags: []\nopts: {}\nnested:\n-   x: 1\n    y:\n    - 1\n    - 2\n\
                        ratio: 0.5\n'on': true\nnone: null\n";
        assert_eq!(render_doc("{{ d | to_nice_yaml(indent=4) }}"), expected);
        assert_eq!(render_doc("{{ d | to_nice_yaml(4) }}"), expected);
    }

    #[test]
    fn to_nice_yaml_sort_keys_matches_ansible_default() {
        // yaml.dump(d, indent=2, allow_unicode=True, default_flow_style=False, sort_keys=True)
        let expected = "env:\n  A: '1.0'\n  B: 'yes'\nname: web\nnested:\n- x: 1\n  y:\n  - 1\n  - 2\n\
                        none: null\n'on': true\nopts: {}\nports:\n- 80\n- 443\nratio: 0.5\n\
                        tags: []\n";
        assert_eq!(
            render_doc("{{ d | to_nice_yaml(sort_keys=true) }}"),
            expected
        );
    }

    #[test]
    fn to_yaml_scalars_and_quoting() {
        assert_eq!(render("{{ 'abc' | to_nice_yaml }}"), "abc\n");
        assert_eq!(render("{{ 42 | to_nice_yaml }}"), "42\n");
        assert_eq!(render("{{ none | to_nice_yaml }}"), "null\n");
        assert_eq!(render("{{ {} | to_nice_yaml }}"), "{}\n");
        assert_eq!(render("{{ [] | to_yaml }}"), "[]\n");
        // YAML 1.1 (PyYAML) and 1.2 specials are quoted, so they stay strings everywhere
        let specials = "['yes', 'on', 'Off', '1_000', '1:20', '0777', '2024-01-01', '~', '', \
                        'null', '1.0', '- x', 'a: b', '#c', '2001:db8::1']";
        assert_eq!(
            render(&format!("{{{{ {specials} | to_nice_yaml }}}}")),
            "- 'yes'\n- 'on'\n- 'Off'\n- '1_000'\n- '1:20'\n- '0777'\n- '2024-01-01'\n- '~'\n\
             - ''\n- 'null'\n- '1.0'\n- '- x'\n- 'a: b'\n- '#c'\n- 2001:db8::1\n"
        );
        assert_eq!(
            render("{{ [1e20, 1.5, -0.0] | to_nice_yaml }}"),
            "- 1.0e+20\n- 1.5\n- -0.0\n"
        );
        assert_eq!(
            render("{{ ['tab\tx', 'ünï'] | to_nice_yaml }}"),
            "- \"tab\\tx\"\n- ünï\n"
        );
    }

    #[test]
    fn to_nice_yaml_multiline_strings_are_literal_blocks() {
        let out =
            render("{{ {'k': {'script': 'a\nb\n'}, 'l': ['x\ny']} | to_nice_yaml(indent=4) }}");
        assert_eq!(
            out,
            "k:\n    script: |\n        a\n        b\nl:\n- |-\n    x\n    y\n"
        );
        // leading spaces cannot start a literal block: double-quoted instead
        assert_eq!(render("{{ [' a\nb'] | to_nice_yaml }}"), "- \" a\\nb\"\n");
    }

    #[test]
    fn to_nice_yaml_round_trips_tricky_strings() {
        let strings = [
            "a\nb",
            "a\n\n",
            "\n",
            "\n\na",
            " a\nb",
            "a \nb",
            "a\n  b",
            "x\ty\nz",
            "\u{85}x\ny",
            "a\r\nb",
            "#c\nd",
            "- a\n- b",
            "'q'\n\"d\"",
            "end\n\n\n",
            "  \n",
            "\ta\nb",
            "a\n\u{2028}b",
            "...\n---",
            "x\n...",
            "yes",
            "",
            " ",
            "a ",
            "@x",
            "`x",
            "&a",
            "*a",
            "!t",
            "? x",
            "-x",
            ":x",
            "x:",
            "#",
            "a #b",
            "\u{1}",
            "\u{7f}",
            "\u{feff}",
            "'",
            "\"",
            "\\",
            "$1",
        ];
        let nested: Vec<Value> = strings
            .iter()
            .map(|s| Value::from_pairs([("k", Value::from(*s)), ("l", Value::from(vec![*s]))]))
            .collect();
        let keyed = Value::from_pairs(strings.iter().map(|s| (*s, *s)));
        let data = Value::from_pairs([
            ("top", Value::from(strings.to_vec())),
            ("nested", Value::from(nested)),
            ("keyed", keyed),
        ]);
        for indent in [2, 4] {
            let yaml = render_with(
                &format!("{{{{ data | to_nice_yaml(indent={indent}) }}}}"),
                context! { data => data.clone() },
            )
            .expect("renders");
            let back: Value = serde_norway::from_str(&yaml).expect("valid YAML");
            assert_eq!(back, data, "indent {indent}:\n{yaml}");
        }
    }

    #[test]
    fn to_yaml_errors() {
        assert_eq!(
            err_msg("{{ {'a': 1} | to_nice_yaml(indent=1) }}"),
            "to_nice_yaml: indent must be between 2 and 9, got 1"
        );
        assert!(err_msg("{{ 1 | to_yaml(width=80) }}").starts_with("to_yaml: "));
        assert!(
            err_msg("{{ {'a': 1} | to_nice_yaml(2, indent=4) }}").starts_with("to_nice_yaml: ")
        );
    }

    #[test]
    fn from_yaml_parses_in_order() {
        assert_eq!(
            render(
                "{% set v = 'b: 1\na: [x, 2]\nc: {d: null}' | from_yaml %}{{ v.keys() | list }} {{ v.a[0] }} {{ v.c.d is none }}"
            ),
            "['b', 'a', 'c'] x True"
        );
        assert_eq!(render("{{ '' | from_yaml is none }}"), "True");
        assert!(err_msg("{{ 'a: [' | from_yaml }}").starts_with("from_yaml: invalid YAML"));
    }

    // -- JSON ----------------------------------------------------------------------------------

    #[test]
    fn to_json_matches_python_json_dumps() {
        // json.dumps(d)
        assert_eq!(
            render_doc("{{ d | to_json }}"),
            r#"{"name": "web", "ports": [80, 443], "env": {"B": "yes", "A": "1.0"}, "tags": [], "opts": {}, "nested": [{"x": 1, "y": [1, 2]}], "ratio": 0.5, "on": true, "none": null}"#
        );
        // json.dumps({"s": "ü€😀\x7f\t", "f": [1e16, 1e15, 0.0001, 1e-05, -2.5, 1e100, 123456789.123]})
        assert_eq!(
            render(
                "{{ {'s': 'ü€😀\x7f\t', 'f': [1e16, 1e15, 0.0001, 1e-05, -2.5, 1e100, 123456789.123]} | to_json }}"
            ),
            r#"{"s": "\u00fc\u20ac\ud83d\ude00\u007f\t", "f": [1e+16, 1000000000000000.0, 0.0001, 1e-05, -2.5, 1e+100, 123456789.123]}"#
        );
        assert_eq!(render("{{ 'ü' | to_json(ensure_ascii=false) }}"), "\"ü\"");
        assert_eq!(
            render("{{ {'b': 1, 'a': 2} | to_json(sort_keys=true) }}"),
            r#"{"a": 2, "b": 1}"#
        );
    }

    #[test]
    fn to_nice_json_matches_python_indent_4_sorted() {
        // json.dumps(d, indent=4, sort_keys=True, separators=(',', ': '))
        let expected = "{\n    \"env\": {\n        \"A\": \"1.0\",\n        \"B\": \"yes\"\n    },\n    \
                        \"name\": \"web\",\n    \"nested\": [\n        {\n            \"x\": 1,\n            \
                        \"y\": [\n                1,\n                2\n            ]\n        }\n    ],\n    \
                        \"none\": null,\n    \"on\": true,\n    \"opts\": {},\n    \"ports\": [\n        80,\n        \
                        443\n    ],\n    \"ratio\": 0.5,\n    \"tags\": []\n}";
        assert_eq!(render_doc("{{ d | to_nice_json }}"), expected);
        assert_eq!(
            render("{{ {'b': [1]} | to_nice_json(indent=2) }}"),
            "{\n  \"b\": [\n    1\n  ]\n}"
        );
    }

    #[test]
    fn from_json_parses_in_order() {
        assert_eq!(
            render(
                r#"{% set v = '{"b": 1, "a": [true, null, 1.5]}' | from_json %}{{ v.keys() | list }} {{ v.a[2] }} {{ v | to_json }}"#
            ),
            r#"['b', 'a'] 1.5 {"b": 1, "a": [true, null, 1.5]}"#
        );
        assert!(err_msg("{{ '{' | from_json }}").starts_with("from_json: invalid JSON"));
    }

    #[test]
    fn to_json_rejects_unserializable_values() {
        assert!(err_msg("{{ range | to_json }}").starts_with("to_json: cannot serialize"));
    }

    // -- base64 / hash / WireGuard -------------------------------------------------------------

    #[test]
    fn b64encode_rfc4648_vectors() {
        // RFC 4648 section 10
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(render(&format!("{{{{ '{plain}' | b64encode }}}}")), encoded);
            assert_eq!(render(&format!("{{{{ '{encoded}' | b64decode }}}}")), plain);
        }
        assert_eq!(render("{{ 'ünï' | b64encode | b64decode }}"), "ünï");
        assert_eq!(render("{{ 'Zm9v\nYmFy\n' | b64decode }}"), "foobar");
    }

    #[test]
    fn b64decode_errors() {
        assert!(err_msg("{{ 'Zm9v!' | b64decode }}").starts_with("b64decode: invalid base64"));
        assert!(err_msg("{{ 'Zg=' | b64decode }}").starts_with("b64decode: invalid base64"));
        // 0xff 0xfe is not UTF-8
        assert_eq!(
            err_msg("{{ '//4=' | b64decode }}"),
            "b64decode: decoded data is not valid UTF-8"
        );
    }

    #[test]
    fn hash_sha256_and_sha512() {
        // FIPS 180-2 "abc" vectors
        assert_eq!(
            render("{{ 'abc' | hash('sha256') }}"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            render("{{ 'abc' | hash('sha512') }}"),
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
             2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
        );
        assert_eq!(
            render("{{ '' | hash('sha256') }}"),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn hash_unsupported_algorithm_names_supported_ones() {
        assert_eq!(
            err_msg("{{ 'abc' | hash('md5') }}"),
            "hash: unsupported algorithm 'md5' (supported: sha224, sha256, sha384, sha512)"
        );
        assert!(err_msg("{{ 'abc' | hash }}").contains("sha256"));
    }

    #[test]
    fn wg_pubkey_matches_wg_tools() {
        // Made with wireguard-tools: `k=$(wg genkey); echo "$k $(echo $k | wg pubkey)"`.
        let pairs = [
            (
                "uMJRlVTeRmZzTlSNvzGRANz4haISJqOwW1MfCyWFUnM=",
                "2Oq0oLMywn4LbA87filUsLSaxrZDTq/cFvkFtD0JVx8=",
            ),
            (
                "8KyWzkrIN+cwnVYS+xkaAYUHqQykc3KZGTkggc86EGQ=",
                "iN99Qj3SV7DNUjOPuy16MIneWI6ZlghLNcqeQSNO+3w=",
            ),
        ];
        for (private, public) in pairs {
            let out =
                render_with("{{ k | wg_pubkey }}", context! { k => private }).expect("renders");
            assert_eq!(out, public);
            // a trailing newline (key read from a file) is tolerated
            let out = render_with(
                "{{ k | wg_pubkey }}",
                context! { k => format!("{private}\n") },
            )
            .expect("renders");
            assert_eq!(out, public);
        }
    }

    #[test]
    fn wg_pubkey_errors_do_not_leak_the_key() {
        for bad in [
            "not base64!",
            "Zm9vYmFy",
            "uMJRlVTeRmZzTlSNvzGRANz4haISJqOwW1MfCyWFUnMA",
        ] {
            let e = render_with("{{ k | wg_pubkey }}", context! { k => bad }).expect_err("fails");
            // the error itself; `{e:#}` (minijinja's debug report) lists the template's
            // referenced variables, which is the renderer's business, not the filter's
            let msg = e.to_string();
            assert_eq!(
                e.detail(),
                Some("wg_pubkey: not a base64-encoded 32-byte key")
            );
            assert!(!msg.contains(bad), "{msg}");
        }
    }

    // -- regular expressions -------------------------------------------------------------------

    #[test]
    fn regex_replace_python_backreferences() {
        // re.sub(r"(\w+)@(?P<host>\w+)", r"\2 \g<host> \g<1> \\ $ \n.", "me@example, you@there")
        assert_eq!(
            render(
                r#"{{ 'me@example, you@there' | regex_replace('(\\w+)@(?P<host>\\w+)', '\\2 \\g<host> \\g<1> \\\\ $ \\n.') }}"#
            ),
            "example example me \\ $ \n., there there you \\ $ \n."
        );
        assert_eq!(
            render(r#"{{ 'a-b' | regex_replace('^(\\w)-(\\w)$', '\\2-\\1') }}"#),
            "b-a"
        );
        assert_eq!(
            render("{{ 'aaa' | regex_replace('a', 'b', count=2) }}"),
            "bba"
        );
        assert_eq!(
            render("{{ 'ABC' | regex_replace('b', 'x', ignorecase=true) }}"),
            "AxC"
        );
        assert_eq!(
            render(r#"{{ 'a\n b' | regex_replace('^ *', '# ', multiline=true) }}"#),
            "# a\n# b"
        );
        assert_eq!(render("{{ 'abc' | regex_replace('b') }}"), "ac");
        assert_eq!(render(r#"{{ 'ab' | regex_replace('b\\Z', 'c') }}"#), "ac");
    }

    #[test]
    fn regex_replace_errors() {
        assert_eq!(
            err_msg(r#"{{ 'abc' | regex_replace('(b)', '\\2') }}"#),
            "regex_replace: invalid group reference 2"
        );
        assert_eq!(
            err_msg(r#"{{ 'abc' | regex_replace('b', '\\g<nope>') }}"#),
            "regex_replace: unknown group name 'nope'"
        );
        assert!(
            err_msg("{{ 'abc' | regex_replace('(', '') }}")
                .starts_with("regex_replace: invalid regular expression")
        );
        assert!(
            err_msg(r#"{{ 'abc' | regex_replace('b', '\\q') }}"#)
                .starts_with("regex_replace: bad escape")
        );
        assert_eq!(
            err_msg("{{ 'abc' | regex_replace('b', 'x', mandatory_count=2) }}"),
            "regex_replace: 'b' should match 2 times, but matches 1 times"
        );
    }

    #[test]
    fn regex_search_returns_match_groups_or_none() {
        assert_eq!(
            render(r#"{{ 'eth0: 10.0.0.1' | regex_search('\\d+\\.\\d+\\.\\d+\\.\\d+') }}"#),
            "10.0.0.1"
        );
        assert_eq!(render("{{ 'abc' | regex_search('x') is none }}"), "True");
        assert_eq!(
            render(r#"{{ 'a1b22' | regex_search('(?P<l>[a-z])(\\d+)', '\\2', '\\g<l>') }}"#),
            "['1', 'a']"
        );
        assert_eq!(
            render("{{ 'ABC' | regex_search('b', ignorecase=true) }}"),
            "B"
        );
        assert!(
            err_msg("{{ 'abc' | regex_search('b', 'x') }}")
                .starts_with("regex_search: unknown argument")
        );
    }

    #[test]
    fn regex_findall_like_python() {
        assert_eq!(
            render(r#"{{ 'a1b22' | regex_findall('\\d+') }}"#),
            "['1', '22']"
        );
        assert_eq!(
            render(r#"{{ 'a1b22' | regex_findall('[a-z](\\d)') }}"#),
            "['1', '2']"
        );
        assert_eq!(
            render(r#"{{ 'a1b2' | regex_findall('([a-z])(\\d)') }}"#),
            "[['a', '1'], ['b', '2']]"
        );
        assert_eq!(render("{{ 'abc' | regex_findall('x') }}"), "[]");
        assert!(
            err_msg("{{ 'abc' | regex_findall('[') }}")
                .starts_with("regex_findall: invalid regular expression")
        );
    }

    // -- combine -------------------------------------------------------------------------------

    #[test]
    fn combine_shallow_and_recursive() {
        let base = "{'a': {'x': 1, 'l': [1]}, 'b': 1}";
        let over = "{'a': {'y': 2, 'l': [2]}, 'c': 3}";
        assert_eq!(
            render(&format!("{{{{ {base} | combine({over}) }}}}")),
            "{'a': {'y': 2, 'l': [2]}, 'b': 1, 'c': 3}"
        );
        assert_eq!(
            render(&format!(
                "{{{{ {base} | combine({over}, recursive=true) }}}}"
            )),
            "{'a': {'x': 1, 'l': [2], 'y': 2}, 'b': 1, 'c': 3}"
        );
        assert_eq!(
            render(&format!(
                "{{{{ {base} | combine({over}, recursive=true, list_merge='append') }}}}"
            )),
            "{'a': {'x': 1, 'l': [1, 2], 'y': 2}, 'b': 1, 'c': 3}"
        );
        assert_eq!(
            render("{{ {'l': [1, 2]} | combine({'l': [2, 3]}, list_merge='prepend_rp') }}"),
            "{'l': [2, 3, 1]}"
        );
        assert_eq!(
            render("{{ {'l': [1]} | combine({'l': [2]}, list_merge='keep') }}"),
            "{'l': [1]}"
        );
        assert_eq!(
            render("{{ [{'a': 1}, {'b': 2}, {'a': 3}] | combine }}"),
            "{'a': 3, 'b': 2}"
        );
        assert_eq!(
            render("{{ {'a': 1} | combine({'b': 2}, {'a': 5}) }}"),
            "{'a': 5, 'b': 2}"
        );
    }

    #[test]
    fn combine_errors() {
        assert_eq!(
            err_msg("{{ {'a': 1} | combine(1) }}"),
            "combine: expected dicts, got number"
        );
        assert!(
            err_msg("{{ {} | combine({}, list_merge='x') }}")
                .starts_with("combine: list_merge must be")
        );
        assert!(err_msg("{{ {} | combine({}, deep=true) }}").starts_with("combine: "));
    }

    // -- small helpers -------------------------------------------------------------------------

    #[test]
    fn ternary_uses_python_truthiness() {
        assert_eq!(render("{{ true | ternary('y', 'n') }}"), "y");
        assert_eq!(render("{{ '' | ternary('y', 'n') }}"), "n");
        assert_eq!(render("{{ 'false' | ternary('y', 'n') }}"), "y");
        assert_eq!(render("{{ none | ternary('y', 'n', 'null') }}"), "null");
        assert_eq!(render("{{ none | ternary('y', 'n') }}"), "n");
    }

    #[test]
    fn bool_ansible_strings() {
        for (input, expected) in [
            ("'yes'", "True"),
            ("'Yes'", "True"),
            ("'on'", "True"),
            ("'1'", "True"),
            ("'true'", "True"),
            ("'no'", "False"),
            ("'off'", "False"),
            ("'0'", "False"),
            ("'False'", "False"),
            ("1", "True"),
            ("0", "False"),
            ("true", "True"),
            ("none", "False"),
        ] {
            assert_eq!(
                render(&format!("{{{{ {input} | bool }}}}")),
                expected,
                "{input}"
            );
        }
        assert_eq!(
            err_msg("{{ 'maybe' | bool }}"),
            "bool: cannot interpret 'maybe' as a boolean (expected yes/no, true/false, on/off, 1/0)"
        );
    }

    #[test]
    fn dict2items_and_items2dict() {
        assert_eq!(
            render("{{ {'b': 1, 'a': 2} | dict2items }}"),
            "[{'key': 'b', 'value': 1}, {'key': 'a', 'value': 2}]"
        );
        assert_eq!(
            render("{{ {'a': 1} | dict2items(key_name='k', value_name='v') }}"),
            "[{'k': 'a', 'v': 1}]"
        );
        assert_eq!(
            render("{{ {'b': 1, 'a': 2} | dict2items | items2dict }}"),
            "{'b': 1, 'a': 2}"
        );
        assert_eq!(
            render("{{ [{'k': 'a', 'v': 1}] | items2dict(key_name='k', value_name='v') }}"),
            "{'a': 1}"
        );
        assert_eq!(
            err_msg("{{ [1] | dict2items }}"),
            "dict2items: requires a dictionary, got sequence"
        );
        assert_eq!(
            err_msg("{{ [{'a': 1}] | items2dict }}"),
            "items2dict: every dictionary in the list must contain the keys 'key' and 'value'"
        );
        assert_eq!(
            err_msg("{{ 'x' | items2dict }}"),
            "items2dict: requires a list, got string"
        );
    }

    #[test]
    fn basename_dirname_like_os_path() {
        // os.path.basename / os.path.dirname
        for (path, base, dir) in [
            ("/etc/nginx/nginx.conf", "nginx.conf", "/etc/nginx"),
            ("foo/", "", "foo"),
            ("foo", "foo", ""),
            ("/", "", "/"),
            ("//x", "x", "//"),
            ("a//b", "b", "a"),
            ("/a", "a", "/"),
        ] {
            assert_eq!(
                render(&format!("{{{{ '{path}' | basename }}}}")),
                base,
                "{path}"
            );
            assert_eq!(
                render(&format!("{{{{ '{path}' | dirname }}}}")),
                dir,
                "{path}"
            );
        }
    }

    #[test]
    fn quote_like_shlex() {
        // shlex.quote
        for (input, expected) in [
            ("''", "''"),
            ("'abc'", "abc"),
            ("'a b'", "'a b'"),
            ("\"it's\"", "'it'\"'\"'s'"),
            ("'x$y'", "'x$y'"),
            ("'/etc/foo.conf'", "/etc/foo.conf"),
            ("'a=b,c:d@e%f+g'", "a=b,c:d@e%f+g"),
            ("'ünï'", "'ünï'"),
            ("42", "42"),
            ("none", "''"),
        ] {
            assert_eq!(
                render(&format!("{{{{ {input} | quote }}}}")),
                expected,
                "{input}"
            );
        }
    }

    #[test]
    fn mandatory_rejects_undefined_and_none() {
        assert_eq!(render("{{ 'x' | mandatory }}"), "x");
        assert_eq!(
            err_msg("{{ nope | mandatory }}"),
            "mandatory: mandatory variable is not defined"
        );
        assert_eq!(
            err_msg("{{ none | mandatory('set x') }}"),
            "mandatory: set x"
        );
    }

    #[test]
    fn flatten_levels_and_nulls() {
        assert_eq!(
            render("{{ [1, [2, [3, [4]]], none, 'None'] | flatten }}"),
            "[1, 2, 3, 4]"
        );
        assert_eq!(
            render("{{ [1, [2, [3, [4]]]] | flatten(1) }}"),
            "[1, 2, [3, [4]]]"
        );
        assert_eq!(
            render("{{ [1, [2, [3, [4]]]] | flatten(levels=2) }}"),
            "[1, 2, 3, [4]]"
        );
        assert_eq!(
            render("{{ [1, [none]] | flatten(skip_nulls=false) }}"),
            "[1, None]"
        );
        assert_eq!(
            err_msg("{{ 'ab' | flatten }}"),
            "flatten: requires a list, got string"
        );
    }

    #[test]
    fn unique_is_builtin() {
        assert_eq!(render("{{ [1, 2, 1, 3] | unique | list }}"), "[1, 2, 3]");
    }

    #[test]
    fn ipaddr_queries() {
        let v6 = "'2a06:de00:50::1/48'";
        let v4 = "'10.0.0.1/24'";
        for (input, query, expected) in [
            (v6, "'address'", "2a06:de00:50::1"),
            (v6, "'prefix'", "48"),
            (v6, "'network'", "2a06:de00:50::"),
            (v6, "'subnet'", "2a06:de00:50::/48"),
            (v6, "'ipv6'", "2a06:de00:50::1/48"),
            (v6, "'ipv4'", "False"),
            (v4, "'address'", "10.0.0.1"),
            (v4, "'prefix'", "24"),
            (v4, "'network'", "10.0.0.0"),
            (v4, "'netmask'", "255.255.255.0"),
            (v4, "'broadcast'", "10.0.0.255"),
            (v4, "'ipv4'", "10.0.0.1/24"),
            (v4, "'ipv6'", "False"),
            (v4, "1", "10.0.0.1/24"),
            (v4, "-2", "10.0.0.254/24"),
            (v4, "256", "False"),
            (v4, "-257", "False"),
            ("'::/0'", "-1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/0"),
            ("'::/0'", "0", "::/0"),
            ("'10.0.0.1'", "'prefix'", "32"),
            ("'10.0.0.1/255.255.0.0'", "'network'", "10.0.0.0"),
            ("'fe80::1'", "'address'", "fe80::1"),
            ("'not-an-ip'", "'address'", "False"),
            ("'10.0.0.1/33'", "'address'", "False"),
        ] {
            assert_eq!(
                render(&format!("{{{{ {input} | ipaddr({query}) }}}}")),
                expected,
                "{input} | ipaddr({query})"
            );
        }
        assert_eq!(render("{{ '10.0.0.1/24' | ipaddr }}"), "10.0.0.1/24");
        assert_eq!(
            render("{{ ['10.0.0.1/24', 'x', '::1'] | ipaddr('address') }}"),
            "['10.0.0.1', '::1']"
        );
        assert_eq!(
            render("{{ ['10.0.0.1/24', '::1/128'] | ipv6('address') }}"),
            "['::1']"
        );
        assert_eq!(render("{{ '10.0.0.1/24' | ipv4('network') }}"), "10.0.0.0");
        assert!(
            err_msg("{{ '10.0.0.1' | ipaddr('bogus') }}")
                .starts_with("ipaddr: unknown query 'bogus'")
        );
    }

    #[test]
    fn pycompat_link_local_idiom() {
        let out = render_with(
            "{{ 'fe80::' + ':'.join(ip.split(':')[-4:]) }}",
            context! { ip => "2a06:de00:50:1:2:3:4:5" },
        )
        .expect("renders");
        assert_eq!(out, "fe80::2:3:4:5");
        // combined with ipaddr on a prefixed address
        let out = render_with(
            "{% set a = ip | ipaddr('address') %}{{ 'fe80::' + ':'.join(a.split(':')[-4:]) }}",
            context! { ip => "2a06:de00:50:1:2:3:4:5/64" },
        )
        .expect("renders");
        assert_eq!(out, "fe80::2:3:4:5");
    }

    #[test]
    fn undefined_input_propagates_strict_error() {
        for filter in [
            "to_yaml",
            "to_nice_yaml",
            "to_json",
            "to_nice_json",
            "from_json",
            "from_yaml",
            "b64encode",
            "b64decode",
            "regex_replace('a', 'b')",
            "regex_search('a')",
            "regex_findall('a')",
            "combine({})",
            "hash('sha256')",
            "wg_pubkey",
            "ternary(1, 2)",
            "bool",
            "dict2items",
            "items2dict",
            "basename",
            "dirname",
            "quote",
            "flatten",
            "ipaddr('address')",
            "ipv4",
            "ipv6",
        ] {
            let e = render_err(&format!("{{{{ nope | {filter} }}}}"));
            assert_eq!(e.kind(), ErrorKind::UndefinedError, "{filter}: {e:#}");
        }
        assert_eq!(
            render_err("{{ {} | combine(nope) }}").kind(),
            ErrorKind::UndefinedError
        );
    }
}
