//! Ansible's host patterns in inventory files: `name:PORT`, and ranges `web[01:03]`,
//! `db-[a:c]`, `x[1:9:2]` expanded as `ansible.plugins.inventory.expand_hostname_range` does
//! (a zero-padded start keeps its width; letters range over `a-zA-Z`; several ranges nest).

/// Hosts a pattern stands for, and the port it gives (`host:2222`), if any.
pub fn expand(pattern: &str) -> Result<(Vec<String>, Option<u16>), String> {
    let (name, port) = split_port(pattern)?;
    if !name.contains('[') {
        return Ok((vec![name.to_string()], port));
    }
    let mut out = Vec::new();
    expand_ranges(name, &mut out)?;
    Ok((out, port))
}

/// `host:22` → (`host`, 22). A colon inside brackets is a range's, not a port's.
fn split_port(pattern: &str) -> Result<(&str, Option<u16>), String> {
    let Some((name, tail)) = pattern.rsplit_once(':') else {
        return Ok((pattern, None));
    };
    if tail.contains(']') || name.is_empty() {
        return Ok((pattern, None));
    }
    if tail.is_empty() {
        return Err("ending in ':' is not allowed (':' gives a port)".into());
    }
    match tail.parse::<u16>() {
        Ok(port) if port > 0 => Ok((name, Some(port))),
        _ => Err(format!("{tail:?} is not a port (1-65535)")),
    }
}

const LETTERS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
/// More hosts than this from one pattern is a mistake (`[0:99999999]`), not a fleet.
const MAX_HOSTS: usize = 100_000;

fn expand_ranges(name: &str, out: &mut Vec<String>) -> Result<(), String> {
    let (Some(open), Some(close)) = (name.find('['), name.find(']')) else {
        out.push(name.to_string());
        return Ok(());
    };
    if close < open {
        return Err("']' before '['".into());
    }
    let (head, range, tail) = (&name[..open], &name[open + 1..close], &name[close + 1..]);
    let bounds: Vec<&str> = range.split(':').collect();
    let (beg, end, step) = match bounds[..] {
        [b, e] => (b, e, 1),
        [b, e, s] => (
            b,
            e,
            s.parse::<usize>()
                .ok()
                .filter(|s| *s > 0)
                .ok_or_else(|| format!("range step {s:?} is not a positive number"))?,
        ),
        _ => return Err("a host range is [begin:end] or [begin:end:step]".into()),
    };
    let beg = if beg.is_empty() { "0" } else { beg };
    if end.is_empty() {
        return Err("a host range needs an end".into());
    }
    let items: Vec<String> = match (LETTERS.find(beg), LETTERS.find(end)) {
        (Some(b), Some(e)) if beg.len() == 1 && end.len() == 1 => {
            if b > e {
                return Err("a host range's begin must not be after its end".into());
            }
            LETTERS[b..=e]
                .chars()
                .step_by(step)
                .map(String::from)
                .collect()
        }
        _ => {
            let number = |s: &str| {
                s.parse::<u64>()
                    .map_err(|_| format!("{s:?} is neither a number nor a letter"))
            };
            let (b, e) = (number(beg)?, number(end)?);
            let width = if beg.starts_with('0') && beg.len() > 1 {
                if beg.len() != end.len() {
                    return Err("a zero-padded host range needs begin and end of one width".into());
                }
                beg.len()
            } else {
                0
            };
            if e >= b && (e - b) as usize / step >= MAX_HOSTS {
                return Err(format!("more than {MAX_HOSTS} hosts"));
            }
            (b..=e)
                .step_by(step)
                .map(|n| format!("{n:0width$}"))
                .collect()
        }
    };
    for item in items {
        expand_ranges(&format!("{head}{item}{tail}"), out)?;
        if out.len() > MAX_HOSTS {
            return Err(format!("more than {MAX_HOSTS} hosts"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::expand;

    fn hosts(p: &str) -> Vec<String> {
        expand(p).unwrap().0
    }

    #[test]
    fn ranges_expand_as_ansible_does() {
        assert_eq!(hosts("web[01:03]"), ["web01", "web02", "web03"]);
        assert_eq!(hosts("db-[a:c].x"), ["db-a.x", "db-b.x", "db-c.x"]);
        assert_eq!(hosts("p[1:9:4]"), ["p1", "p5", "p9"]);
        assert_eq!(hosts("r[:2]"), ["r0", "r1", "r2"]);
        assert_eq!(hosts("n[1:2]-[a:b]"), ["n1-a", "n1-b", "n2-a", "n2-b"]);
        assert_eq!(hosts("x[9:10]"), ["x9", "x10"]);
        assert_eq!(hosts("plain"), ["plain"]);
    }

    #[test]
    fn ports_split_off() {
        assert_eq!(
            expand("h:2222").unwrap(),
            (vec!["h".to_string()], Some(2222))
        );
        assert_eq!(expand("w[1:2]:22").unwrap().1, Some(22));
        assert!(expand("h:").unwrap_err().contains("port"));
        assert!(expand("h:99999").unwrap_err().contains("not a port"));
    }

    #[test]
    fn bad_ranges_are_errors() {
        assert!(expand("w[01:3]").unwrap_err().contains("one width"));
        assert!(expand("w[c:a]").unwrap_err().contains("after"));
        assert!(expand("w[1:]").unwrap_err().contains("end"));
        assert!(expand("w[1:2:0]").unwrap_err().contains("step"));
        assert!(expand("w[1:2:3:4]").unwrap_err().contains("begin:end"));
        assert!(expand("w[0:9999999]").unwrap_err().contains("more than"));
    }
}
