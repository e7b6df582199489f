//! Helpers shared by the filters: errors that name the filter, value conversions.

use super::*;

/// An `InvalidOperation` error whose message starts with the filter's name.
pub(super) fn err(filter: &str, msg: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::InvalidOperation, format!("{filter}: {msg}"))
}

/// Returns minijinja's own undefined error (strict mode) when `value` is undefined.
pub(super) fn defined(state: &State, value: &Value) -> Result<(), Error> {
    if value.is_undefined() {
        StringInput::new(state, value)?;
    }
    Ok(())
}

/// Reads keyword argument `key`, naming the filter if it has the wrong type.
pub(super) fn kw<T>(filter: &str, kwargs: &Kwargs, key: &str) -> Result<Option<T>, Error>
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
pub(super) fn pos_or_kw<T>(
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
pub(super) fn all_used(filter: &str, kwargs: &Kwargs) -> Result<(), Error> {
    kwargs.assert_all_used().map_err(|e| err(filter, e))
}

/// Splits variadic arguments into positional values and keyword arguments.
pub(super) fn split_kwargs(args: Rest<ValueOrKwargs>) -> Result<(Vec<Value>, Kwargs), Error> {
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

pub(super) fn is_map(value: &Value) -> bool {
    value.kind() == ValueKind::Map && !value.is_kwargs()
}

pub(super) fn is_seq(value: &Value) -> bool {
    matches!(value.kind(), ValueKind::Seq | ValueKind::Iterable)
}

/// The entries of a map value, in iteration (insertion) order.
pub(super) fn map_entries(value: &Value) -> Result<Vec<(Value, Value)>, Error> {
    let mut out = Vec::new();
    for key in value.try_iter()? {
        let item = value.get_item(&key)?;
        out.push((key, item));
    }
    Ok(out)
}

pub(super) fn seq_items(value: &Value) -> Result<Vec<Value>, Error> {
    Ok(value.try_iter()?.collect())
}

/// Python's `str()` of a scalar (`True`, `None`, numbers, strings as they are).
pub(super) fn py_str(value: &Value) -> String {
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
pub(super) fn py_float_repr(f: f64) -> String {
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

pub(super) fn as_f64(value: &Value) -> Option<f64> {
    f64::try_from(value.clone()).ok()
}
