//! YAML merge keys (`<<`), as YAML 1.1 (<https://yaml.org/type/merge.html>) and Ansible read
//! them: `<<: *anchor` merges one mapping, `<<: [*a, *b]` several; a key written in the mapping
//! itself wins over a merged one, and of several merged mappings the earlier one wins.
//!
//! serde_norway's `Value::apply_merge` is not used: it merges parents before the mappings they
//! merge in (so `<<` inside an anchored mapping that is itself merged stays a literal key) and
//! reorders keys. Here merged mappings are resolved first; merged keys come first, in order,
//! then the mapping's own keys.

use serde_norway::{Mapping, Value};

use super::de::{MERGE_KEY, Segment};

/// Merges every `<<` key of `value` in place; whether there was any. An error is a message and
/// the path of the mapping holding the bad `<<`.
pub fn apply(value: &mut Value) -> Result<bool, (String, Vec<Segment>)> {
    let mut path = Vec::new();
    walk(value, &mut path)
}

fn walk(value: &mut Value, path: &mut Vec<Segment>) -> Result<bool, (String, Vec<Segment>)> {
    match value {
        Value::Mapping(map) => {
            let mut any = false;
            for (key, child) in map.iter_mut() {
                path.push(Segment::Key(key_text(key)));
                any |= walk(child, path)?;
                path.pop();
            }
            if let Some(merge) = map.get(MERGE_KEY).cloned() {
                let own = std::mem::take(map);
                *map = merged(own, merge).map_err(|m| (m, path.clone()))?;
                any = true;
            }
            Ok(any)
        }
        Value::Sequence(items) => {
            let mut any = false;
            for (i, item) in items.iter_mut().enumerate() {
                path.push(Segment::Index(i));
                any |= walk(item, path)?;
                path.pop();
            }
            Ok(any)
        }
        Value::Tagged(tagged) => walk(&mut tagged.value, path),
        _ => Ok(false),
    }
}

/// The mapping `own` (which holds the `<<` key) with the mappings of `merge` merged in.
fn merged(own: Mapping, merge: Value) -> Result<Mapping, String> {
    let sources = match merge {
        Value::Mapping(m) => vec![m],
        Value::Sequence(items) => items
            .into_iter()
            .map(|item| match item {
                Value::Mapping(m) => Ok(m),
                other => Err(format!(
                    "a merge key (<<) list holds {}: it takes mappings only (`<<: [*a, *b]`)",
                    kind(&other)
                )),
            })
            .collect::<Result<_, _>>()?,
        other => {
            return Err(format!(
                "a merge key (<<) holds {}: it takes a mapping or a list of mappings \
                 (`<<: *anchor`)",
                kind(&other)
            ));
        }
    };
    let mut out = Mapping::new();
    for source in sources {
        for (k, v) in source {
            if !out.contains_key(&k) {
                out.insert(k, v);
            }
        }
    }
    for (k, v) in own {
        if k.as_str() != Some(MERGE_KEY) {
            // An own key wins: it replaces the merged value in place.
            out.insert(k, v);
        }
    }
    Ok(out)
}

fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => "?".to_string(),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merged_doc(text: &str) -> Value {
        let mut v: Value = serde_norway::from_str(text).unwrap();
        apply(&mut v).unwrap();
        v
    }

    #[test]
    fn own_keys_win_and_earlier_merges_win() {
        let v = merged_doc(
            "a: &a {x: 1, y: 1}\nb: &b {x: 2, z: 2}\nc:\n  x: 0\n  <<: [*a, *b]\nd:\n  <<: *b\n  z: 3\n",
        );
        assert_eq!(v["c"]["x"], Value::from(0));
        assert_eq!(v["c"]["y"], Value::from(1));
        assert_eq!(v["c"]["z"], Value::from(2));
        assert_eq!(v["d"]["x"], Value::from(2));
        assert_eq!(v["d"]["z"], Value::from(3));
        assert!(v["c"].get(MERGE_KEY).is_none());
        // Merged keys first, in order, then the mapping's own.
        let keys: Vec<_> = v["d"]
            .as_mapping()
            .unwrap()
            .keys()
            .map(|k| k.as_str().unwrap().to_string())
            .collect();
        assert_eq!(keys, ["x", "z"]);
    }

    #[test]
    fn chained_merges_are_resolved() {
        let v = merged_doc(
            "base: &base {a: 1}\nmid: &mid\n  <<: *base\n  b: 2\ntop:\n  <<: *mid\n  c: 3\n",
        );
        assert_eq!(v["top"]["a"], Value::from(1));
        assert_eq!(v["top"]["b"], Value::from(2));
        assert!(v["top"].get(MERGE_KEY).is_none(), "{v:?}");
    }

    #[test]
    fn merging_a_scalar_is_an_error_with_its_path() {
        let mut v: Value = serde_norway::from_str("g:\n  h:\n    <<: 3\n").unwrap();
        let (msg, path) = apply(&mut v).unwrap_err();
        assert!(msg.contains("holds a number"), "{msg}");
        assert_eq!(path, [Segment::Key("g".into()), Segment::Key("h".into())]);
        let mut v: Value = serde_norway::from_str("h:\n  <<: [{a: 1}, x]\n").unwrap();
        assert!(apply(&mut v).unwrap_err().0.contains("mappings only"));
        let mut v: Value = serde_norway::from_str("h: {a: 1}\n").unwrap();
        assert!(!apply(&mut v).unwrap());
    }
}
