//! Python values and printing that minijinja has no equivalent of, for Jinja2 parity: a `range`
//! object, `repr()` and `pprint.pformat()`. Tuples are minijinja's own ([`Tuple`]).

use std::fmt;
use std::sync::Arc;

use minijinja::value::{Enumerator, Object, ObjectRepr, Tuple};

use super::*;

/// Python's `range(start, stop, step)`: lazy, printed as `range(0, 3)` as Python prints it.
/// Like minijinja's own `range`, more than 100 000 items is refused.
pub(super) struct PyRange {
    start: i64,
    stop: i64,
    step: i64,
}

impl fmt::Debug for PyRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.step {
            1 => write!(f, "range({}, {})", self.start, self.stop),
            step => write!(f, "range({}, {}, {step})", self.start, self.stop),
        }
    }
}

impl PyRange {
    fn len(&self) -> usize {
        let (lo, hi, step) = if self.step > 0 {
            (self.start, self.stop, self.step)
        } else {
            (self.stop, self.start, -self.step)
        };
        if lo >= hi {
            0
        } else {
            ((hi - lo - 1) / step + 1) as usize
        }
    }
}

impl Object for PyRange {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let i = key.as_usize()?;
        (i < self.len()).then(|| Value::from(self.start + i as i64 * self.step))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Seq(self.len())
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_ref(), f)
    }
}

/// The `range([start,] stop[, step])` global, as Python's.
pub(super) fn range(lower: i64, upper: Option<i64>, step: Option<i64>) -> Result<Value, Error> {
    let (start, stop) = match upper {
        Some(upper) => (lower, upper),
        None => (0, lower),
    };
    let step = step.unwrap_or(1);
    if step == 0 {
        return Err(err("range", "arg 3 must not be zero"));
    }
    let range = PyRange { start, stop, step };
    if range.len() > 100_000 {
        return Err(err("range", "range has too many elements"));
    }
    Ok(Value::from_object(range))
}

/// Python's `repr()` of a value; `sort_dicts` sorts mappings by key, as `pprint` does.
pub(super) fn repr(value: &Value, sort_dicts: bool) -> String {
    if let Some(t) = value.downcast_object_ref::<Tuple>() {
        let items: Vec<String> = t.iter().map(|v| repr(v, sort_dicts)).collect();
        return match items.len() {
            1 => format!("({},)", items[0]),
            _ => format!("({})", items.join(", ")),
        };
    }
    if let Some(r) = value.downcast_object_ref::<PyRange>() {
        return format!("{r:?}");
    }
    match value.kind() {
        ValueKind::Number if !value.is_integer() => match as_f64(value) {
            Some(f) => py_float_repr(f),
            None => format!("{value:?}"),
        },
        ValueKind::Map if !value.is_kwargs() => {
            let entries = map_entries(value).unwrap_or_default();
            let items: Vec<String> = sorted(entries, sort_dicts)
                .iter()
                .map(|(k, v)| format!("{}: {}", repr(k, sort_dicts), repr(v, sort_dicts)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<String> = seq_items(value)
                .unwrap_or_default()
                .iter()
                .map(|v| repr(v, sort_dicts))
                .collect();
            format!("[{}]", items.join(", "))
        }
        _ => format!("{value:?}"),
    }
}

fn sorted(mut entries: Vec<(Value, Value)>, sort: bool) -> Vec<(Value, Value)> {
    if sort {
        entries.sort_by(|a, b| a.0.cmp(&b.0));
    }
    entries
}

/// `pprint(value)`: Python's `pprint.pformat(value)` (width 80, indent 1, dicts sorted by key),
/// as Jinja2 defines the filter. Containers whose repr does not fit are broken one item a line;
/// strings that do not fit are split at whitespace into adjacent literals.
pub(super) fn pprint(value: &Value) -> String {
    let mut out = String::new();
    format_value(&mut out, value, 0, 0, 0);
    out
}

const WIDTH: usize = 80;

/// `PrettyPrinter._format`.
fn format_value(out: &mut String, value: &Value, indent: usize, allowance: usize, level: usize) {
    let rep = repr(value, true);
    let max_width = WIDTH.saturating_sub(indent + allowance);
    if rep.chars().count() <= max_width {
        out.push_str(&rep);
        return;
    }
    if let Some(t) = value.downcast_object_ref::<Tuple>() {
        let end = if t.len() == 1 { ",)" } else { ")" };
        out.push('(');
        format_items(out, t, indent, allowance + end.len(), level + 1);
        out.push_str(end);
        return;
    }
    if value.downcast_object_ref::<PyRange>().is_some() {
        out.push_str(&rep);
        return;
    }
    match value.kind() {
        ValueKind::Map if !value.is_kwargs() => {
            // `_pprint_dict` and `_format_dict_items`.
            out.push('{');
            let items = sorted(map_entries(value).unwrap_or_default(), true);
            let indent = indent + 1;
            let last_index = items.len().saturating_sub(1);
            for (i, (k, v)) in items.iter().enumerate() {
                let last = i == last_index;
                let krep = repr(k, true);
                out.push_str(&krep);
                out.push_str(": ");
                let allowance = if last { allowance + 1 } else { 1 };
                format_value(
                    out,
                    v,
                    indent + krep.chars().count() + 2,
                    allowance,
                    level + 1,
                );
                if !last {
                    out.push_str(",\n");
                    out.push_str(&" ".repeat(indent));
                }
            }
            out.push('}');
        }
        ValueKind::Seq | ValueKind::Iterable => {
            out.push('[');
            format_items(
                out,
                &seq_items(value).unwrap_or_default(),
                indent,
                allowance + 1,
                level + 1,
            );
            out.push(']');
        }
        ValueKind::String => pprint_str(
            out,
            value.as_str().unwrap_or_default(),
            indent,
            allowance,
            level + 1,
        ),
        _ => out.push_str(&rep),
    }
}

/// `PrettyPrinter._format_items` (not compact): one item a line.
fn format_items(out: &mut String, items: &[Value], indent: usize, allowance: usize, level: usize) {
    let indent = indent + 1;
    for (i, item) in items.iter().enumerate() {
        let last = i + 1 == items.len();
        if i > 0 {
            out.push_str(",\n");
            out.push_str(&" ".repeat(indent));
        }
        format_value(out, item, indent, if last { allowance } else { 1 }, level);
    }
}

/// `PrettyPrinter._pprint_str`: lines (`splitlines(True)`) and, within a line too long,
/// runs of `\S*\s*`, each a literal; at the top level in parentheses.
fn pprint_str(out: &mut String, s: &str, mut indent: usize, mut allowance: usize, level: usize) {
    let r = |s: &str| repr(&Value::from(s), true);
    let len = |s: &str| r(s).chars().count();
    let mut lines = Vec::new();
    let mut start = 0;
    for (i, c) in s.char_indices() {
        // `splitlines(True)` keeps the boundaries; `\r\n` is one.
        let boundary = matches!(
            c,
            '\n' | '\x0b' | '\x0c' | '\x1c' | '\x1d' | '\x1e' | '\u{85}' | '\u{2028}' | '\u{2029}'
        ) || (c == '\r' && !s[i + 1..].starts_with('\n'));
        if boundary {
            lines.push(&s[start..i + c.len_utf8()]);
            start = i + c.len_utf8();
        }
    }
    if start < s.len() {
        lines.push(&s[start..]);
    }
    if level == 1 {
        indent += 1;
        allowance += 1;
    }
    let max_width = WIDTH.saturating_sub(indent);
    let mut max_width1 = max_width;
    let mut chunks = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let last_line = i + 1 == lines.len();
        if last_line {
            max_width1 = max_width1.saturating_sub(allowance);
        }
        if len(line) <= max_width1 {
            chunks.push(r(line));
            continue;
        }
        // `re.findall(r'\S*\s*', line)` without its empty last match.
        let mut parts = Vec::new();
        let mut rest = *line;
        while !rest.is_empty() {
            let word = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let space = rest[word..]
                .find(|c: char| !c.is_whitespace())
                .map_or(rest.len(), |n| word + n);
            parts.push(&rest[..space]);
            rest = &rest[space..];
        }
        let mut max_width2 = max_width;
        let mut current = String::new();
        for (j, part) in parts.iter().enumerate() {
            let candidate = format!("{current}{part}");
            if j + 1 == parts.len() && last_line {
                max_width2 = max_width2.saturating_sub(allowance);
            }
            if len(&candidate) > max_width2 {
                if !current.is_empty() {
                    chunks.push(r(&current));
                }
                current = part.to_string();
            } else {
                current = candidate;
            }
        }
        if !current.is_empty() {
            chunks.push(r(&current));
        }
    }
    if chunks.len() == 1 {
        out.push_str(&chunks[0]);
        return;
    }
    if level == 1 {
        out.push('(');
    }
    for (i, chunk) in chunks.iter().enumerate() {
        if i > 0 {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
        }
        out.push_str(chunk);
    }
    if level == 1 {
        out.push(')');
    }
}

/// Whether minijinja's `Display` of `value` differs from Python's `str()`: a float, or a list,
/// mapping or tuple holding one (minijinja writes `100000000000000000000.0` and `[1e20]`,
/// Python `1e+20` and `[1e+20]`).
fn has_float(value: &Value) -> bool {
    if let Some(t) = value.downcast_object_ref::<Tuple>() {
        return t.iter().any(has_float);
    }
    match value.kind() {
        ValueKind::Number => !value.is_integer(),
        ValueKind::Seq => seq_items(value).is_ok_and(|items| items.iter().any(has_float)),
        ValueKind::Map if !value.is_kwargs() => map_entries(value)
            .is_ok_and(|entries| entries.iter().any(|(k, v)| has_float(k) || has_float(v))),
        _ => false,
    }
}

/// Python's `str(value)` where it differs from minijinja's `Display` (see [`has_float`]).
pub(super) fn py_display(value: &Value) -> Option<String> {
    if !has_float(value) {
        return None;
    }
    Some(match as_f64(value) {
        Some(f) if value.kind() == ValueKind::Number => py_float_repr(f),
        _ => repr(value, false),
    })
}
