//! `combine`: Ansible's (recursive) dictionary merge with its `list_merge` modes.

use super::*;

#[derive(Clone, Copy, PartialEq)]
pub(super) enum ListMerge {
    Replace,
    Keep,
    Append,
    Prepend,
    AppendRp,
    PrependRp,
}

pub(super) type Entries = Vec<(Value, Value)>;

pub(super) fn entry_index(entries: &Entries, key: &Value) -> Option<usize> {
    entries.iter().position(|(k, _)| k == key)
}

/// Ansible's `merge_hash(x, y)`: `y` wins.
pub(super) fn merge_hash(
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
pub(super) fn combine(
    state: &State,
    value: &Value,
    args: Rest<ValueOrKwargs>,
) -> Result<Value, Error> {
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
