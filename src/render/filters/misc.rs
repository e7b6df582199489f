//! Small Ansible helpers: `ternary`, `bool`, `dict2items`, `items2dict`, `basename`,
//! `dirname`, `quote`, `mandatory`, `flatten`.

use super::*;

/// `ternary(true_val, false_val, none_val=none)`: Python truthiness of the input.
pub(super) fn ternary(
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

/// `bool`: ansible-core 2.19's boolean conversion: `yes`/`on`/`true`/`1` and
/// `no`/`off`/`false`/`0` (any case), booleans, 1 and 0. What ansible-core coerces with a
/// deprecation warning (an error from 2.23: `'y'`, `'t'`, `' yes '`, `2`, `'maybe'`…) is an error
/// here, except none and `''`, false in both.
pub(super) fn to_bool(state: &State, value: &Value) -> Result<bool, Error> {
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
            let s = value.as_str().unwrap_or_default().to_lowercase();
            match s.as_str() {
                "yes" | "on" | "1" | "true" => Ok(true),
                "no" | "off" | "0" | "false" | "" => Ok(false),
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

pub(super) fn names(
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
pub(super) fn dict2items(
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
pub(super) fn items2dict(
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
pub(super) fn basename(value: String) -> String {
    match value.rfind('/') {
        Some(i) => value[i + 1..].to_string(),
        None => value,
    }
}

/// `dirname`: Python's `os.path.dirname`.
pub(super) fn dirname(value: String) -> String {
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
pub(super) fn quote(state: &State, value: &Value) -> Result<String, Error> {
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
    Ok(crate::util::shell::quote(&py_str(value)))
}

/// `mandatory(msg=none)`: fails if the input is undefined or none.
pub(super) fn mandatory(value: &Value, msg: Option<String>) -> Result<Value, Error> {
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

pub(super) fn flatten_into(
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
pub(super) fn flatten(
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
