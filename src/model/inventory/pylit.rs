//! Python literals, as Ansible's INI inventory reads a value (`ast.literal_eval`, and the text
//! itself when that fails): numbers, quoted strings, `True`/`False`/`None`, lists, tuples,
//! sets and dicts. No crate reads Python literals short of a whole Python parser; this covers
//! what `literal_eval` accepts in an inventory, and anything else stays text, as in Ansible.
//! Checked against ansible-inventory itself (tests/inventory_parity.rs).

use serde_json::{Map, Number, Value};

/// The value of an INI inventory value: its Python literal, else the text.
pub fn value(text: &str) -> Value {
    let trimmed = text.trim_start_matches([' ', '\t']);
    let mut p = Parser {
        s: trimmed.as_bytes(),
        i: 0,
        text: trimmed,
    };
    match p.top() {
        Some(v) if p.end() => v,
        _ => Value::String(text.to_string()),
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    text: &'a str,
}

impl Parser<'_> {
    /// An expression, or a tuple without parentheses (`1, 2`: a list, as Ansible makes it).
    fn top(&mut self) -> Option<Value> {
        let first = self.expr()?;
        if !self.eat(b',') {
            return Some(first);
        }
        let mut items = vec![first];
        while !self.end() {
            items.push(self.expr()?);
            if !self.eat(b',') {
                break;
            }
        }
        Some(Value::Array(items))
    }

    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t') {
            self.i += 1;
        }
    }

    fn end(&mut self) -> bool {
        self.ws();
        self.i == self.s.len()
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expr(&mut self) -> Option<Value> {
        self.ws();
        match self.peek()? {
            b'[' => {
                self.i += 1;
                self.items(b']')
            }
            b'(' => {
                self.i += 1;
                self.tuple()
            }
            b'{' => {
                self.i += 1;
                self.dict()
            }
            b'\'' | b'"' => self.strings(),
            b'r' | b'R' | b'u' | b'U' | b'b' | b'B'
                if matches!(self.s.get(self.i + 1), Some(b'\'' | b'"')) =>
            {
                self.strings()
            }
            b'+' | b'-' | b'0'..=b'9' | b'.' => self.number(),
            _ => self.name(),
        }
    }

    /// Comma-separated values up to `close` (a trailing comma allowed).
    fn items(&mut self, close: u8) -> Option<Value> {
        let mut out = Vec::new();
        loop {
            if self.eat(close) {
                return Some(Value::Array(out));
            }
            out.push(self.expr()?);
            if !self.eat(b',') {
                return self.eat(close).then_some(Value::Array(out));
            }
        }
    }

    /// `(x)` is x; `(x,)`, `(x, y)` and `()` are tuples, which Ansible makes lists.
    fn tuple(&mut self) -> Option<Value> {
        if self.eat(b')') {
            return Some(Value::Array(Vec::new()));
        }
        let first = self.expr()?;
        if self.eat(b')') {
            return Some(first);
        }
        if !self.eat(b',') {
            return None;
        }
        match self.items(b')')? {
            Value::Array(mut rest) => {
                rest.insert(0, first);
                Some(Value::Array(rest))
            }
            _ => None,
        }
    }

    /// `{k: v, ...}` a dict; `{a, b}` a set (a list, as Ansible makes it).
    fn dict(&mut self) -> Option<Value> {
        if self.eat(b'}') {
            return Some(Value::Object(Map::new()));
        }
        let first = self.expr()?;
        if !self.eat(b':') {
            if self.eat(b'}') {
                return Some(Value::Array(vec![first]));
            }
            if !self.eat(b',') {
                return None;
            }
            return match self.items(b'}')? {
                Value::Array(mut rest) => {
                    rest.insert(0, first);
                    let mut unique = Vec::new();
                    for v in rest {
                        if !unique.contains(&v) {
                            unique.push(v);
                        }
                    }
                    Some(Value::Array(unique))
                }
                _ => None,
            };
        }
        let mut map = Map::new();
        let mut key = first;
        loop {
            let value = self.expr()?;
            map.insert(key_text(&key)?, value);
            if !self.eat(b',') {
                return self.eat(b'}').then_some(Value::Object(map));
            }
            if self.eat(b'}') {
                return Some(Value::Object(map));
            }
            key = self.expr()?;
            if !self.eat(b':') {
                return None;
            }
        }
    }

    fn name(&mut self) -> Option<Value> {
        let start = self.i;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
        {
            self.i += 1;
        }
        match &self.text[start..self.i] {
            "True" => Some(Value::Bool(true)),
            "False" => Some(Value::Bool(false)),
            "None" => Some(Value::Null),
            _ => None,
        }
    }

    /// Adjacent string literals concatenate, as in Python.
    fn strings(&mut self) -> Option<Value> {
        let mut out = String::new();
        loop {
            self.ws();
            let mut raw = false;
            while let Some(c @ (b'r' | b'R' | b'u' | b'U' | b'b' | b'B')) = self.peek() {
                raw |= matches!(c, b'r' | b'R');
                self.i += 1;
            }
            let Some(quote @ (b'\'' | b'"')) = self.peek() else {
                break;
            };
            out.push_str(&self.string(quote, raw)?);
            self.ws();
            let next = self.peek();
            let prefixed = matches!(next, Some(b'r' | b'R' | b'u' | b'U' | b'b' | b'B'))
                && matches!(self.s.get(self.i + 1), Some(b'\'' | b'"'));
            if !(matches!(next, Some(b'\'' | b'"')) || prefixed) {
                break;
            }
        }
        Some(Value::String(out))
    }

    fn string(&mut self, quote: u8, raw: bool) -> Option<String> {
        let triple = self.s[self.i..].starts_with(&[quote; 3]);
        self.i += if triple { 3 } else { 1 };
        let mut out = String::new();
        let rest = &self.text[self.i..];
        let mut chars = rest.char_indices().peekable();
        while let Some((at, c)) = chars.next() {
            let closes = if triple {
                rest.as_bytes()[at..].starts_with(&[quote; 3])
            } else {
                c == quote as char
            };
            if closes {
                self.i += at + if triple { 3 } else { 1 };
                return Some(out);
            }
            if c == '\n' && !triple {
                return None;
            }
            if c != '\\' {
                out.push(c);
                continue;
            }
            let (_, e) = chars.next()?;
            if raw {
                out.push('\\');
                out.push(e);
                continue;
            }
            match e {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                '0'..='7' => {
                    let mut n = e.to_digit(8)?;
                    for _ in 0..2 {
                        match chars.peek() {
                            Some((_, d @ '0'..='7')) => {
                                n = n * 8 + d.to_digit(8)?;
                                chars.next();
                            }
                            _ => break,
                        }
                    }
                    out.push(char::from_u32(n)?);
                }
                'x' | 'u' | 'U' => {
                    let len = match e {
                        'x' => 2,
                        'u' => 4,
                        _ => 8,
                    };
                    let mut n = 0;
                    for _ in 0..len {
                        n = n * 16 + chars.next()?.1.to_digit(16)?;
                    }
                    out.push(char::from_u32(n)?);
                }
                'a' => out.push('\u{7}'),
                'b' => out.push('\u{8}'),
                'f' => out.push('\u{c}'),
                'v' => out.push('\u{b}'),
                '\\' | '\'' | '"' => out.push(e),
                '\n' => {}
                // Python keeps an unknown escape as written.
                other => {
                    out.push('\\');
                    out.push(other);
                }
            }
        }
        None
    }

    fn number(&mut self) -> Option<Value> {
        let mut negative = false;
        while let Some(c @ (b'+' | b'-')) = self.peek() {
            negative ^= c == b'-';
            self.i += 1;
            self.ws();
        }
        let start = self.i;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_'))
            || (matches!(self.peek(), Some(b'+' | b'-'))
                && matches!(self.s.get(self.i.wrapping_sub(1)), Some(b'e' | b'E'))
                && !self.text[start..self.i].starts_with("0x"))
        {
            self.i += 1;
        }
        let token = &self.text[start..self.i];
        if token.ends_with(['j', 'J']) || token.is_empty() {
            // A complex number: Ansible makes it its text; nxinfra too, as written.
            return None;
        }
        let sign: i128 = if negative { -1 } else { 1 };
        if let Some(n) = integer(token) {
            let n = sign * n;
            return Some(match i64::try_from(n) {
                Ok(n) => Value::Number(n.into()),
                Err(_) => Value::Number(u64::try_from(n).ok()?.into()),
            });
        }
        let f = float(token)?;
        Number::from_f64(if negative { -f } else { f }).map(Value::Number)
    }
}

/// A Python integer literal (`10`, `1_000`, `0x1f`, `0o17`, `0b101`; `007` is not one).
fn integer(token: &str) -> Option<i128> {
    if token.starts_with('_') || token.ends_with('_') || token.contains("__") {
        return None;
    }
    let digits = token.replace('_', "");
    let lower = digits.to_ascii_lowercase();
    let (radix, body) = match lower.get(..2) {
        Some("0x") => (16, &lower[2..]),
        Some("0o") => (8, &lower[2..]),
        Some("0b") => (2, &lower[2..]),
        _ => {
            if lower.len() > 1 && lower.starts_with('0') && lower.bytes().any(|b| b != b'0') {
                return None;
            }
            (10, &lower[..])
        }
    };
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    i128::from_str_radix(body, radix).ok()
}

/// A Python float literal (`1.5`, `.5`, `1.`, `1e3`, `1_0.5`).
fn float(token: &str) -> Option<f64> {
    if token.starts_with('_') || token.contains("__") || token.contains("_.") {
        return None;
    }
    let t = token.replace('_', "");
    let valid = t.chars().all(|c| c.is_ascii_digit() || "eE.+-".contains(c))
        && t.chars().any(|c| c.is_ascii_digit())
        && (t.contains('.') || t.contains(['e', 'E']));
    if !valid {
        return None;
    }
    t.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// A dict key as JSON has it: text (Python's `str()` of a number or a bool).
fn key_text(key: &Value) -> Option<String> {
    match key {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(true) => Some("True".into()),
        Value::Bool(false) => Some("False".into()),
        Value::Null => Some("None".into()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::value;

    #[test]
    fn literals_as_literal_eval_reads_them() {
        assert_eq!(value("5"), json!(5));
        assert_eq!(value("-5"), json!(-5));
        assert_eq!(value("1_000"), json!(1000));
        assert_eq!(value("0x1f"), json!(31));
        assert_eq!(value("1.5"), json!(1.5));
        assert_eq!(value("1e3"), json!(1000.0));
        assert_eq!(value("True"), json!(true));
        assert_eq!(value("None"), json!(null));
        assert_eq!(value("'a b'"), json!("a b"));
        assert_eq!(value(r#""x\ty""#), json!("x\ty"));
        assert_eq!(value("'a' \"b\""), json!("ab"));
        assert_eq!(value("[1, 'two', [3]]"), json!([1, "two", [3]]));
        assert_eq!(value("(1, 2)"), json!([1, 2]));
        assert_eq!(value("(1)"), json!(1));
        assert_eq!(value("{'a': 1, 2: [True]}"), json!({"a": 1, "2": [true]}));
        assert_eq!(value("{1, 1, 2}"), json!([1, 2]));
        assert_eq!(value("  7"), json!(7));
        assert_eq!(value("1,2"), json!([1, 2]));
        assert_eq!(value("'a',"), json!(["a"]));
    }

    #[test]
    fn anything_else_stays_text() {
        for text in [
            "hello world",
            "yes",
            "true",
            "0755",
            "1.2.3.4",
            "10.0.0.0/8",
            "a=b",
            "'unclosed",
            "[1, 2",
            "inf",
            "1+2j",
            "x y",
            "{'a'}x",
            "1,,2",
        ] {
            assert_eq!(value(text), json!(text), "{text}");
        }
    }
}
