//! Jinja2's builtin filters where minijinja's differ or are missing, defined as Jinja2 3.1
//! defines them (jinja2/filters.py), so that a template renders the same bytes:
//! `tests/jinja2_parity.rs` checks each against Python's Jinja2.

use super::*;

/// Python's `str.splitlines()`: every line boundary Python knows, the boundaries dropped.
pub(super) fn splitlines(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let boundary = matches!(
            c,
            '\n' | '\r'
                | '\x0b'
                | '\x0c'
                | '\x1c'
                | '\x1d'
                | '\x1e'
                | '\u{85}'
                | '\u{2028}'
                | '\u{2029}'
        );
        if boundary {
            out.push(&s[start..i]);
            let mut end = i + c.len_utf8();
            if c == '\r'
                && let Some((j, '\n')) = chars.peek().copied()
            {
                chars.next();
                end = j + 1;
            }
            start = end;
        }
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

/// Python's binding of a call's arguments: each of `names` given by position or by name (not
/// both), `None` when not given; more positional arguments than names, or an unknown name, is
/// an error naming `filter`.
pub(super) fn bind<const N: usize>(
    filter: &str,
    names: [&str; N],
    args: &Rest<Value>,
    kwargs: &Kwargs,
) -> Result<[Option<Value>; N], Error> {
    if args.len() > N {
        return Err(Error::new(
            ErrorKind::TooManyArguments,
            format!("{filter}: at most {N} arguments"),
        ));
    }
    let mut out: [Option<Value>; N] = std::array::from_fn(|_| None);
    for (i, name) in names.iter().enumerate() {
        out[i] = match (args.get(i), kwargs.get::<Option<Value>>(name)?) {
            (Some(_), Some(_)) => {
                return Err(Error::new(
                    ErrorKind::TooManyArguments,
                    format!("{filter}: {name} given twice"),
                ));
            }
            (Some(v), None) => Some(v.clone()),
            (None, v) => v,
        };
    }
    kwargs.assert_all_used()?;
    Ok(out)
}

/// `indent(width=4, first=False, blank=False)`; `width` may be a string (the indentation
/// itself). As Jinja2: a value that ends with a newline keeps it.
pub(super) fn indent(value: &str, args: Rest<Value>, kwargs: Kwargs) -> Result<String, Error> {
    let [width, first, blank] = bind("indent", ["width", "first", "blank"], &args, &kwargs)?;
    let indention = match width {
        None => "    ".to_string(),
        Some(w) if w.kind() == ValueKind::String => w.as_str().unwrap_or_default().to_string(),
        Some(w) => " ".repeat(usize::try_from(w).map_err(|_| {
            Error::new(
                ErrorKind::InvalidOperation,
                "indent: width is not a whole number",
            )
        })?),
    };
    let first = first.is_some_and(|v| v.is_true());
    let blank = blank.is_some_and(|v| v.is_true());
    // Jinja2 adds a newline before splitting ("this quirk will be stripped later"): a
    // trailing newline of the value survives as an empty last line.
    let text = format!("{value}\n");
    let lines = splitlines(&text);
    let mut rv = if blank {
        lines.join(&format!("\n{indention}"))
    } else {
        let mut rest = lines.iter();
        let mut rv = rest.next().copied().unwrap_or_default().to_string();
        let tail: Vec<String> = rest
            .map(|l| {
                if l.is_empty() {
                    String::new()
                } else {
                    format!("{indention}{l}")
                }
            })
            .collect();
        if !tail.is_empty() {
            rv.push('\n');
            rv.push_str(&tail.join("\n"));
        }
        rv
    };
    if first {
        rv.insert_str(0, &indention);
    }
    Ok(rv)
}

/// `center(width=80)`: Python's `str.center`, the odd space on the side Python puts it.
pub(super) fn center(value: &str, width: Option<usize>) -> String {
    let width = width.unwrap_or(80);
    let len = value.chars().count();
    if width <= len {
        return value.to_string();
    }
    let marg = width - len;
    let left = marg / 2 + (marg & width & 1);
    format!("{}{value}{}", " ".repeat(left), " ".repeat(marg - left))
}

/// `wordcount`: the matches of `\w+` (Unicode word characters), as Jinja2 counts.
pub(super) fn wordcount(value: &str) -> usize {
    static WORD: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\w+").unwrap_or_else(|_| unreachable!()));
    WORD.find_iter(value).count()
}

/// `truncate(length=255, killwords=False, end='...', leeway=5)`, positional or by name.
pub(super) fn truncate(value: &str, args: Rest<Value>, kwargs: Kwargs) -> Result<String, Error> {
    let given = bind(
        "truncate",
        ["length", "killwords", "end", "leeway"],
        &args,
        &kwargs,
    )?;
    let number = |v: &Option<Value>, default: usize, name: &str| -> Result<usize, Error> {
        match v {
            None => Ok(default),
            Some(v) => usize::try_from(v.clone()).map_err(|_| {
                Error::new(
                    ErrorKind::InvalidOperation,
                    format!("truncate: {name} is not a whole number"),
                )
            }),
        }
    };
    let length = number(&given[0], 255, "length")?;
    let killwords = given[1].as_ref().is_some_and(|v| v.is_true());
    let end = match &given[2] {
        None => "...".to_string(),
        Some(v) => v.to_string(),
    };
    let leeway = number(&given[3], 5, "leeway")?;
    let end_len = end.chars().count();
    if length < end_len {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("truncate: expected length >= {end_len}, got {length}"),
        ));
    }
    let chars: Vec<char> = value.chars().collect();
    if chars.len() <= length + leeway {
        return Ok(value.to_string());
    }
    let kept: String = chars[..length - end_len].iter().collect();
    if killwords {
        return Ok(kept + &end);
    }
    // Python's `rsplit(" ", 1)[0]`: up to the last space, or all of it without one.
    let head = match kept.rfind(' ') {
        Some(at) => &kept[..at],
        None => &kept,
    };
    Ok(format!("{head}{end}"))
}

/// `replace(old, new, count=None)`: Python's `str.replace`, the first `count` only when given.
pub(super) fn replace(value: &str, old: &str, new: &str, count: Option<i64>) -> String {
    match count {
        Some(n) if n >= 0 => {
            if old.is_empty() {
                // Python inserts `new` before each character and at the end, up to count.
                let mut out = String::new();
                let mut left = n as usize;
                for c in value.chars() {
                    if left > 0 {
                        out.push_str(new);
                        left -= 1;
                    }
                    out.push(c);
                }
                if left > 0 {
                    out.push_str(new);
                }
                out
            } else {
                value.replacen(old, new, n as usize)
            }
        }
        _ if old.is_empty() => {
            let mut out = String::from(new);
            for c in value.chars() {
                out.push(c);
                out.push_str(new);
            }
            out
        }
        _ => value.replace(old, new),
    }
}

/// `dictsort(case_sensitive=False, by='key', reverse=False)`, positional or by name (minijinja's
/// takes names only); `by` other than key or value is refused, as in Jinja2.
pub(super) fn dictsort(value: &Value, args: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let names = ["case_sensitive", "by", "reverse"];
    let given = bind("dictsort", names, &args, &kwargs)?;
    if let Some(by) = &given[1]
        && !matches!(by.as_str(), Some("key" | "value"))
    {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "dictsort: you can only sort by either \"key\" or \"value\"",
        ));
    }
    let named = Kwargs::from_iter(names.iter().zip(given).filter_map(|(n, v)| Some((*n, v?))));
    minijinja::filters::dictsort(value, named)
}

/// MarkupSafe's `escape`: `&`, `<`, `>`, `"` and `'` as `&amp;` `&lt;` `&gt;` `&#34;` `&#39;`.
fn markup_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `forceescape`: HTML-escapes the value (its `str()`) as MarkupSafe does, even when it is
/// marked safe; minijinja's `escape` writes `&quot;`/`&#x27;`/`&#x2f;` instead.
pub(super) fn forceescape(value: &Value) -> Value {
    Value::from_safe_string(markup_escape(&py_str(value)))
}

/// `xmlattr(autospace=True)`: `key="value"` for each item whose value is not none nor
/// undefined, both escaped, space separated, a space first when `autospace`. A key with
/// whitespace, `/`, `>` or `=` is refused, as in Jinja2 3.1.4+.
pub(super) fn xmlattr(value: &Value, args: Rest<Value>, kwargs: Kwargs) -> Result<Value, Error> {
    let [autospace] = bind("xmlattr", ["autospace"], &args, &kwargs)?;
    if !is_map(value) {
        return Err(err(
            "xmlattr",
            format!("expected a mapping, got {}", value.kind()),
        ));
    }
    let mut items = Vec::new();
    for (key, item) in map_entries(value)? {
        if item.is_none() || item.is_undefined() {
            continue;
        }
        let key = py_str(&key);
        if key
            .chars()
            .any(|c| c.is_ascii_whitespace() || matches!(c, '/' | '>' | '=' | '\x0b'))
        {
            return Err(err(
                "xmlattr",
                format!(
                    "Invalid character in attribute name: {:?}",
                    Value::from(key)
                ),
            ));
        }
        items.push(format!(
            "{}=\"{}\"",
            markup_escape(&key),
            markup_escape(&py_str(&item))
        ));
    }
    let mut rv = items.join(" ");
    if autospace.is_none_or(|v| v.is_true()) && !rv.is_empty() {
        rv.insert(0, ' ');
    }
    Ok(Value::from(rv))
}

/// `format(*args)`: Python's `value % args`. minijinja's printf formatting, with `%r` and `%a`
/// (`repr()`, which minijinja lacks) given as `%s` of the argument's repr.
pub(super) fn format(
    state: &mut State,
    value: &Value,
    args: Rest<ValueOrKwargs>,
) -> Result<Value, Error> {
    let mut args = args.into_values();
    let Some(spec) = value.as_str() else {
        return minijinja::filters::format(
            state,
            value,
            Rest(args.into_iter().map(Into::into).collect()),
        );
    };
    let mut out = String::with_capacity(spec.len());
    let mut chars = spec.chars().peekable();
    let mut arg = 0;
    while let Some(c) = chars.next() {
        out.push(c);
        if c != '%' {
            continue;
        }
        if chars.peek() == Some(&'%') {
            out.extend(chars.next());
            continue;
        }
        // `%[(key)][flags][width][.precision][length]type`; `*` takes an argument. A keyed
        // `%(key)r` (a mapping) is left to minijinja.
        let (mut in_key, mut keyed) = (false, false);
        for c in chars.by_ref() {
            match c {
                'r' | 'a' if !in_key && !keyed => {
                    out.push('s');
                    if let Some(a) = args.get_mut(arg) {
                        *a = Value::from(super::python::repr(a, false));
                    }
                    break;
                }
                c if !in_key && c.is_ascii_alphabetic() && !matches!(c, 'h' | 'l' | 'L') => {
                    out.push(c);
                    break;
                }
                '(' if !keyed => (in_key, keyed) = (true, true),
                ')' if in_key => in_key = false,
                '*' if !in_key => arg += 1,
                _ => {}
            }
            out.push(c);
        }
        arg += 1;
    }
    minijinja::filters::format(
        state,
        &Value::from(out),
        Rest(args.into_iter().map(Into::into).collect()),
    )
}

/// `min`/`max(case_sensitive=False, attribute=None)`: Python's `min()`/`max()`, which return the
/// first of equal items (minijinja's `max` returns the last); an empty value is undefined.
fn min_max(
    filter: &str,
    state: &State,
    value: &Value,
    args: Rest<Value>,
    kwargs: Kwargs,
    wanted: std::cmp::Ordering,
) -> Result<Value, Error> {
    let [case_sensitive, attribute] =
        bind(filter, ["case_sensitive", "attribute"], &args, &kwargs)?;
    defined(state, value)?;
    let case_sensitive = case_sensitive.is_some_and(|v| v.is_true());
    let attribute = attribute.map(|a| py_str(&a));
    let key_of = |item: &Value| -> Result<Value, Error> {
        let mut key = item.clone();
        if let Some(path) = &attribute {
            // `make_attrgetter`: a dotted path, whole numbers as indexes.
            for part in path.split('.') {
                key = match part.parse::<i64>() {
                    Ok(i) => key.get_item(&Value::from(i))?,
                    Err(_) => key.get_attr(part)?,
                };
            }
        }
        Ok(match key.as_str() {
            Some(s) if !case_sensitive => Value::from(s.to_lowercase()),
            _ => key,
        })
    };
    let mut best: Option<(Value, Value)> = None;
    for item in value.try_iter()? {
        let key = key_of(&item)?;
        match &best {
            Some((k, _)) if key.cmp(k) != wanted => {}
            _ => best = Some((key, item)),
        }
    }
    Ok(best.map_or(Value::UNDEFINED, |(_, item)| item))
}

pub(super) fn min(
    state: &State,
    value: &Value,
    args: Rest<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    min_max("min", state, value, args, kwargs, std::cmp::Ordering::Less)
}

pub(super) fn max(
    state: &State,
    value: &Value,
    args: Rest<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    min_max(
        "max",
        state,
        value,
        args,
        kwargs,
        std::cmp::Ordering::Greater,
    )
}

/// `int(default=0, base=10)`: minijinja's, except that a value that is not a number is an
/// error when no default is given (Jinja2 renders 0: docs/templates.md, deliberate).
pub(super) fn int(
    state: &State,
    value: &Value,
    default: Option<Value>,
    base: Option<u32>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let given = default.is_some() || kwargs.has("default");
    minijinja::filters::int(state, &py_stripped(value), default, base, kwargs)
        .map_err(|e| not_a_number("int", value, given, e))
}

/// `float(default=0.0)`: as [`int`].
pub(super) fn float(
    state: &State,
    value: &Value,
    default: Option<Value>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let given = default.is_some() || kwargs.has("default");
    minijinja::filters::float(state, &py_stripped(value), default, kwargs)
        .map_err(|e| not_a_number("float", value, given, e))
}

/// Python's `int()` and `float()` ignore surrounding whitespace (`' 3 '`).
fn py_stripped(value: &Value) -> Value {
    match value.as_str() {
        Some(s) if s.trim() != s => Value::from(s.trim()),
        _ => value.clone(),
    }
}

fn not_a_number(filter: &str, value: &Value, given: bool, e: Error) -> Error {
    if given || value.kind() != ValueKind::String {
        return e;
    }
    err(
        filter,
        format!(
            "{value:?} is not a number (Jinja2 would render 0 here; nxinfra refuses a value it \
             cannot read): fix the value, or give the default to use, e.g. {filter}({zero})",
            zero = if filter == "int" { "0" } else { "0.0" }
        ),
    )
}

/// `pprint`: Python's `pprint.pformat` ([`super::python::pprint`]).
pub(super) fn pprint(value: &Value) -> String {
    super::python::pprint(value)
}

/// `is sequence`: Jinja2 asks for `len()` and `__getitem__`, so strings and mappings are
/// sequences too (minijinja: lists only); undefined is not.
pub(super) fn is_sequence(value: &Value) -> bool {
    !value.is_kwargs()
        && matches!(
            value.kind(),
            ValueKind::String | ValueKind::Bytes | ValueKind::Seq | ValueKind::Map
        )
}

/// `is iterable`: Python's `iter()` succeeds: strings, lists, mappings; not none (minijinja
/// iterates none as empty). Undefined is an error, as with Jinja2's strict undefined.
pub(super) fn is_iterable(state: &State, value: &Value) -> Result<bool, Error> {
    defined(state, value)?;
    Ok(!value.is_kwargs()
        && matches!(
            value.kind(),
            ValueKind::String
                | ValueKind::Bytes
                | ValueKind::Seq
                | ValueKind::Map
                | ValueKind::Iterable
        ))
}

/// `is callable`: a function or a macro (minijinja has no bound methods).
pub(super) fn is_callable(value: &Value) -> bool {
    value.as_object().is_some_and(|o| {
        matches!(o.repr(), minijinja::value::ObjectRepr::Plain)
            || value.to_string().starts_with("<macro ")
    })
}

/// Python's `str` and `list` methods that minijinja's pycompat lacks (`ljust`, `rjust`,
/// `center`, `zfill`, `rsplit`; `list.index`), then pycompat's own.
pub fn unknown_method(
    state: &mut State,
    value: &Value,
    method: &str,
    args: &[Value],
) -> Result<Value, Error> {
    let width = |i: usize| -> Result<usize, Error> {
        args.get(i)
            .cloned()
            .ok_or_else(|| Error::new(ErrorKind::MissingArgument, format!("{method}: width")))
            .and_then(usize::try_from)
    };
    let fill = |i: usize| -> Result<char, Error> {
        match args.get(i).and_then(Value::as_str) {
            None if args.get(i).is_none() => Ok(' '),
            Some(f) if f.chars().count() == 1 => Ok(f.chars().next().unwrap_or(' ')),
            _ => Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("{method}: the fill character must be exactly one character long"),
            )),
        }
    };
    if let Some(s) = value.as_str() {
        let len = s.chars().count();
        let pad = |n: usize, c: char| c.to_string().repeat(n);
        match method {
            "ljust" | "rjust" | "center" => {
                let (w, c) = (width(0)?, fill(1)?);
                if w <= len {
                    return Ok(Value::from(s));
                }
                let marg = w - len;
                let left = match method {
                    "ljust" => 0,
                    "rjust" => marg,
                    _ => marg / 2 + (marg & w & 1),
                };
                return Ok(Value::from(format!(
                    "{}{s}{}",
                    pad(left, c),
                    pad(marg - left, c)
                )));
            }
            "partition" | "rpartition" => {
                // Python's `str.partition(sep)`: a 3-tuple, the whole string and two empty
                // ones when `sep` is not found (before it for rpartition).
                let sep = match args {
                    [sep] => sep.as_str().ok_or_else(|| {
                        Error::new(
                            ErrorKind::InvalidOperation,
                            format!("{method}: must be str"),
                        )
                    })?,
                    _ => {
                        return Err(Error::new(
                            ErrorKind::InvalidOperation,
                            format!("{method}: takes exactly one argument"),
                        ));
                    }
                };
                if sep.is_empty() {
                    return Err(Error::new(
                        ErrorKind::InvalidOperation,
                        format!("{method}: empty separator"),
                    ));
                }
                let found = if method == "partition" {
                    s.find(sep)
                } else {
                    s.rfind(sep)
                };
                let parts = match (found, method) {
                    (Some(at), _) => [&s[..at], sep, &s[at + sep.len()..]],
                    (None, "partition") => [s, "", ""],
                    (None, _) => ["", "", s],
                };
                return Ok(Value::from_object(minijinja::value::Tuple::new(
                    parts.iter().map(|p| Value::from(*p)).collect(),
                )));
            }
            "zfill" => {
                let w = width(0)?;
                if w <= len {
                    return Ok(Value::from(s));
                }
                let (sign, digits) = match s.chars().next() {
                    Some(c @ ('+' | '-')) => (c.to_string(), &s[1..]),
                    _ => (String::new(), s),
                };
                return Ok(Value::from(format!("{sign}{}{digits}", pad(w - len, '0'))));
            }
            "rsplit" => {
                let sep = args.first().filter(|v| !v.is_none()).map(|v| v.to_string());
                let max = match args.get(1) {
                    Some(m) => i64::try_from(m.clone())?,
                    None => -1,
                };
                let mut parts: Vec<String> = match &sep {
                    Some(sep) if sep.is_empty() => {
                        return Err(Error::new(
                            ErrorKind::InvalidOperation,
                            "rsplit: empty separator",
                        ));
                    }
                    Some(sep) if max >= 0 => s
                        .rsplitn(max as usize + 1, sep.as_str())
                        .map(String::from)
                        .collect(),
                    Some(sep) => s.rsplit(sep.as_str()).map(String::from).collect(),
                    None => {
                        // Runs of whitespace, from the right, at most `max` splits.
                        let mut out = Vec::new();
                        let mut rest = s.trim_end();
                        while !rest.is_empty() {
                            if max >= 0 && out.len() as i64 == max {
                                // Python keeps what is left as it is (leading space too).
                                out.push(rest.to_string());
                                break;
                            }
                            match rest.rfind(char::is_whitespace) {
                                Some(at) => {
                                    let ws = rest[at..].chars().next().map_or(1, char::len_utf8);
                                    out.push(rest[at + ws..].to_string());
                                    rest = rest[..at].trim_end();
                                }
                                None => {
                                    out.push(rest.to_string());
                                    break;
                                }
                            }
                        }
                        out
                    }
                };
                parts.reverse();
                return Ok(Value::from(parts));
            }
            _ => {}
        }
    }
    if value.kind() == ValueKind::Seq && method == "index" {
        let want = args
            .first()
            .ok_or_else(|| Error::new(ErrorKind::MissingArgument, "index: the value"))?;
        for (i, item) in value.try_iter()?.enumerate() {
            if &item == want {
                return Ok(Value::from(i));
            }
        }
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("index: {want} is not in the list"),
        ));
    }
    if method == "format"
        && let Some(spec) = value.as_str()
        && let Some((spec, args)) = str_format_conversions(spec, args)
    {
        return minijinja_contrib::pycompat::unknown_method_callback(
            state,
            &Value::from(spec),
            method,
            &args,
        );
    }
    minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args)
}

/// `str.format`'s conversions `!r`, `!a` and `!s`, which pycompat lacks: each such field's value
/// converted (`repr()`, or `str()`) and passed as a keyword argument of its own, the field
/// rewritten to name it. `None` when there is none (or a field this does not read: `{a.b!r}`),
/// to leave the call to pycompat as it is.
fn str_format_conversions(spec: &str, args: &[Value]) -> Option<(String, Vec<Value>)> {
    if !spec.contains('!') {
        return None;
    }
    let (positional, kwargs) = match args.split_last() {
        Some((last, rest)) if last.is_kwargs() => (rest, Some(last)),
        _ => (args, None),
    };
    let mut named: Vec<(String, Value)> = Vec::new();
    if let Some(kw) = kwargs {
        for key in kw.try_iter().ok()? {
            let v = kw.get_item(&key).ok()?;
            named.push((key.as_str()?.to_string(), v));
        }
    }
    let mut out = String::with_capacity(spec.len());
    let (mut auto, mut manual, mut converted) = (0usize, false, 0usize);
    let mut rest = spec;
    while let Some(at) = rest.find(['{', '}']) {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..2]);
            rest = &tail[2..];
            continue;
        }
        if tail.starts_with('}') {
            return None;
        }
        let end = tail.find('}')?;
        let field = &tail[1..end];
        rest = &tail[end + 1..];
        let (name, format) = match field.find(':') {
            Some(c) => (&field[..c], &field[c..]),
            None => (field, ""),
        };
        let (name, conversion) = match name.split_once('!') {
            Some((n, c)) => (n, Some(c)),
            None => (name, None),
        };
        let value = match name {
            "" => {
                auto += 1;
                positional.get(auto - 1)
            }
            n if n.chars().all(|c| c.is_ascii_digit()) => {
                manual = true;
                positional.get(n.parse::<usize>().ok()?)
            }
            n if n.chars().all(|c| c.is_alphanumeric() || c == '_') => {
                named.iter().find(|(k, _)| k == n).map(|(_, v)| v)
            }
            _ => return None,
        };
        let Some(conversion) = conversion else {
            // A field without conversion, renumbered when automatic (pycompat refuses mixing).
            match name {
                "" => out.push_str(&format!("{{{}{format}}}", auto - 1)),
                _ => out.push_str(&format!("{{{field}}}")),
            }
            continue;
        };
        let value = value?;
        let text = match conversion {
            "r" | "a" => super::python::repr(value, false),
            "s" => super::python::py_display(value).unwrap_or_else(|| py_str(value)),
            _ => return None,
        };
        let key = format!("nxinfra_conversion_{converted}");
        converted += 1;
        out.push_str(&format!("{{{key}{format}}}"));
        named.push((key, Value::from(text)));
    }
    out.push_str(rest);
    // Python refuses to mix `{}` and `{0}`: left to pycompat, which refuses too.
    if converted == 0 || (manual && auto > 0) {
        return None;
    }
    let mut args: Vec<Value> = positional.to_vec();
    args.push(Value::from(Kwargs::from_iter(
        named.iter().map(|(k, v)| (k.as_str(), v.clone())),
    )));
    Some((out, args))
}

/// The output of `{{ value }}`: a float as Python prints it (`1e+20`, `nan`; minijinja:
/// `100000000000000000000.0`, `NaN`), in a list or mapping too; everything else as minijinja.
pub fn formatter(
    out: &mut minijinja::Output,
    state: &mut State,
    value: &Value,
) -> Result<(), Error> {
    match super::python::py_display(value) {
        Some(text) => out
            .write_str(&text)
            .map_err(|e| Error::new(ErrorKind::WriteFailure, e.to_string())),
        None => minijinja::escape_formatter(out, state, value),
    }
}

/// `string`: Python's `str()`, floats as [`formatter`] writes them.
pub(super) fn string(state: &State, value: &Value) -> Result<Value, Error> {
    match super::python::py_display(value) {
        Some(text) => Ok(Value::from(text)),
        None => minijinja::filters::string(state, value),
    }
}

/// `join(d='', attribute=None)`: minijinja's, the items' floats written as Python's `str()`.
pub(super) fn join(
    state: &mut State,
    value: &Value,
    joiner: Option<StringInput<'_>>,
    attribute: Option<&str>,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    let plain = attribute.is_none() && !kwargs.has("attribute");
    if plain && value.kind() == ValueKind::Seq {
        let items = seq_items(value)?;
        if items.iter().any(|i| super::python::py_display(i).is_some()) {
            let items: Vec<Value> = items
                .into_iter()
                .map(|i| super::python::py_display(&i).map_or(i, Value::from))
                .collect();
            return minijinja::filters::join(state, &Value::from(items), joiner, None, kwargs);
        }
    }
    minijinja::filters::join(state, value, joiner, attribute, kwargs)
}
