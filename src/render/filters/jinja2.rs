//! Jinja2's builtin filters where minijinja's differ or are missing, defined as Jinja2 3.1
//! defines them (jinja2/filters.py), so that a template renders the same bytes:
//! `tests/jinja2_parity.rs` checks each against Python's Jinja2.

use super::*;

/// Python's `str.splitlines()`: every line boundary Python knows, the boundaries dropped.
fn splitlines(s: &str) -> Vec<&str> {
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
fn bind<const N: usize>(
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
    minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args)
}
