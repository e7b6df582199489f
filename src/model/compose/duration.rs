//! Compose durations: `30s`, `1m30s`, `500ms`, `1.5h`, `0` (Go's `time.ParseDuration` without
//! signs). Units: `ns`, `us` (or `µs`), `ms`, `s`, `m`, `h`. A bare number other than `0` is
//! refused: it would be read as seconds by some tools and nanoseconds by others.

use std::time::Duration;

use serde::de::{self, Deserialize, Deserializer, Visitor};

/// A parsed Compose duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ComposeDuration(pub Duration);

pub fn parse(text: &str) -> Result<Duration, String> {
    let bad = |why: &str| {
        format!("bad duration {text:?}: {why} (examples: \"30s\", \"1m30s\", \"500ms\")")
    };
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.is_empty() {
        return Err(bad("empty"));
    }
    let mut total: u128 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| bad("a number needs a unit"))?;
        if number_len == 0 {
            return Err(bad("expected a number"));
        }
        let (number, after) = rest.split_at(number_len);
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let scale: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(bad(&format!("unknown unit {unit:?}"))),
        };
        let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
        if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') {
            return Err(bad("malformed number"));
        }
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| bad("number too large"))?
        };
        let mut nanos = whole.checked_mul(scale).ok_or_else(|| bad("too large"))?;
        // Fraction digits beyond nanosecond precision are dropped, as Go does.
        let mut place = scale;
        for digit in fraction.chars() {
            place /= 10;
            nanos += u128::from(digit.to_digit(10).unwrap_or(0)) * place;
        }
        total = total.checked_add(nanos).ok_or_else(|| bad("too large"))?;
        rest = after;
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| bad("too large"))?;
    // i64 nanoseconds is what the Docker API takes.
    if total > i64::MAX as u128 {
        return Err(bad("too large"));
    }
    Ok(Duration::new(secs, (total % 1_000_000_000) as u32))
}

impl<'de> Deserialize<'de> for ComposeDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ComposeDuration;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a duration such as \"30s\" or \"1m30s\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                parse(v).map(ComposeDuration).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                if v == 0 {
                    return Ok(ComposeDuration(Duration::ZERO));
                }
                Err(E::custom(format!(
                    "bad duration {v}: a duration needs a unit, e.g. \"{v}s\""
                )))
            }
        }
        d.deserialize_any(V)
    }
}

/// Serialises a duration as integer nanoseconds (what the Docker API takes).
pub mod nanos {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_compose_durations() {
        let ms = Duration::from_millis;
        let cases = [
            ("30s", ms(30_000)),
            ("1m30s", ms(90_000)),
            ("500ms", ms(500)),
            ("1h", ms(3_600_000)),
            ("1.5s", ms(1_500)),
            (".5s", ms(500)),
            ("2h45m", ms(9_900_000)),
            ("10us", Duration::from_micros(10)),
            ("10µs", Duration::from_micros(10)),
            ("7ns", Duration::from_nanos(7)),
            ("0", Duration::ZERO),
            ("0s", Duration::ZERO),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn refuses_bad_durations_naming_them() {
        for (text, why) in [
            ("30", "needs a unit"),
            ("", "empty"),
            ("s", "expected a number"),
            ("-5s", "expected a number"),
            ("5 s", "unknown unit"),
            ("5d", "unknown unit \"d\""),
            ("1.2.3s", "malformed"),
            ("99999999999999h", "too large"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
            assert!(err.contains(&format!("{text:?}")), "{err}");
        }
    }
}
