//! `regex_replace`, `regex_search`, `regex_findall` with Python `re` semantics.

use super::*;

/// Python-only pattern syntax translated to the regex crate's (`\Z` → `\z`). With
/// `dollar_before_newline`, a `$` outside a class is `(?m:$)`: Python's `$` matches at the end
/// and before a newline that ends the text, which on a text whose only newline is its last is
/// exactly `(?m:$)` (the regex crate's plain `$` is the very end only).
pub(super) fn translate_pattern(pattern: &str, dollar_before_newline: bool) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars().peekable();
    // Inside `[...]` (where `$` is a literal), and how many members so far: `[]` and `[^]`
    // open a class with a literal `]`.
    let mut class: Option<usize> = None;
    while let Some(c) = chars.next() {
        if c != '\\' {
            match class {
                None if c == '[' => {
                    class = Some(0);
                    out.push(c);
                    // `[^`: the negation, not a member.
                    if chars.peek() == Some(&'^') {
                        out.extend(chars.next());
                    }
                    continue;
                }
                None if c == '$' && dollar_before_newline => {
                    out.push_str("(?m:$)");
                    continue;
                }
                None => {}
                Some(n) if c == ']' && n > 0 => class = None,
                Some(n) => class = Some(n + 1),
            }
            out.push(c);
            continue;
        }
        if let Some(n) = class {
            class = Some(n + 1);
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

/// Compiles `pattern` for a search in `text` (see [`translate_pattern`] for why the text).
pub(super) fn compile_regex(
    filter: &str,
    pattern: &str,
    text: &str,
    ignorecase: bool,
    multiline: bool,
) -> Result<Regex, Error> {
    let dollar_before_newline = !multiline
        && text
            .strip_suffix('\n')
            .is_some_and(|head| !head.contains('\n'));
    RegexBuilder::new(&translate_pattern(pattern, dollar_before_newline))
        .case_insensitive(ignorecase)
        .multi_line(multiline)
        .build()
        .map_err(|e| err(filter, format!("invalid regular expression: {e}")))
}

/// Resolves a Python group reference (`1`, `name`) against `re`.
pub(super) fn group_ref(filter: &str, re: &Regex, name: &str) -> Result<GroupRef, Error> {
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

pub(super) enum GroupRef {
    Index(usize),
    Name(String),
}

pub(super) fn push_literal(out: &mut String, c: char) {
    if c == '$' {
        out.push_str("$$");
    } else {
        out.push(c);
    }
}

pub(super) fn is_octal(c: Option<&char>) -> bool {
    matches!(c, Some('0'..='7'))
}

/// Translates a Python `re.sub` replacement (`\1`, `\g<name>`, `\g<1>`, `\n`…) to the regex
/// crate's syntax (`${1}`, `${name}`; literal `$` doubled).
pub(super) fn translate_replacement(filter: &str, repl: &str, re: &Regex) -> Result<String, Error> {
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

pub(super) fn regex_flags(filter: &str, kwargs: &Kwargs) -> Result<(bool, bool), Error> {
    Ok((
        kw(filter, kwargs, "ignorecase")?.unwrap_or(false),
        kw(filter, kwargs, "multiline")?.unwrap_or(false),
    ))
}

/// `regex_replace(pattern, replacement='', ignorecase=false, multiline=false, count=0,
/// mandatory_count=0)`: Python's `re.sub`.
pub(super) fn regex_replace(
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
    let re = compile_regex(F, &pattern, &value, ignorecase, multiline)?;
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
pub(super) fn regex_search(
    value: String,
    pattern: String,
    args: Rest<ValueOrKwargs>,
) -> Result<Value, Error> {
    const F: &str = "regex_search";
    let (args, kwargs) = split_kwargs(args)?;
    let (ignorecase, multiline) = regex_flags(F, &kwargs)?;
    all_used(F, &kwargs)?;
    let re = compile_regex(F, &pattern, &value, ignorecase, multiline)?;
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
/// matches, the single group, or tuples of the groups, printed `('k', 'v')` as Python's).
pub(super) fn regex_findall(
    value: String,
    pattern: String,
    kwargs: Kwargs,
) -> Result<Value, Error> {
    const F: &str = "regex_findall";
    let (ignorecase, multiline) = regex_flags(F, &kwargs)?;
    all_used(F, &kwargs)?;
    let re = compile_regex(F, &pattern, &value, ignorecase, multiline)?;
    let groups = re.captures_len() - 1;
    let text = |m: Option<::regex::Match<'_>>| Value::from(m.map(|m| m.as_str()).unwrap_or(""));
    let found: Vec<Value> = re
        .captures_iter(&value)
        .map(|caps| match groups {
            0 => text(caps.get(0)),
            1 => text(caps.get(1)),
            _ => Value::from_object(minijinja::value::Tuple::new(
                (1..=groups).map(|i| text(caps.get(i))).collect(),
            )),
        })
        .collect();
    Ok(Value::from(found))
}
