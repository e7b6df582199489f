//! Python's `textwrap.wrap` (3.11, Lib/textwrap.py), as Jinja2's `wordwrap` calls it:
//! `expand_tabs=False, replace_whitespace=False`, no indents, `drop_whitespace=True`, no
//! `max_lines`. The `textwrap` crate wraps differently (no hyphen rules, other chunks), so this
//! is a port: the chunking of `wordsep_re` / `wordsep_simple_re` and `_wrap_chunks` with
//! `_handle_long_word`. Lengths are in characters, as Python's `len()`.

use super::*;

/// textwrap's whitespace: `'\t\n\x0b\x0c\r '`, nothing else (not NBSP).
fn ws(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\x0b' | '\x0c' | '\r' | ' ')
}

/// Python's `\w` on str patterns: alphanumeric (`str.isalnum`) or `_`.
fn word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// `[^\d\W]`: a word character that is not a decimal digit (`\d` is Unicode `Nd`).
fn letter(c: char) -> bool {
    static DIGIT: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^\p{Nd}$").unwrap_or_else(|_| unreachable!()));
    word(c) && !DIGIT.is_match(c.encode_utf8(&mut [0; 4]))
}

/// `[\w!"\'&.,?]`.
fn word_punct(c: char) -> bool {
    word(c) || matches!(c, '!' | '"' | '\'' | '&' | '.' | ',' | '?')
}

/// Python's `str.strip() == ''`: every character is whitespace (`str.isspace`).
fn blank(chunk: &[char]) -> bool {
    chunk
        .iter()
        .all(|c| c.is_whitespace() || ('\x1c'..='\x1f').contains(c))
}

/// `wordsep_re.split(text)` (break_on_hyphens) without empty strings: whitespace runs, em-dashes
/// between words, and words split after the hyphens of hyphenated words.
fn split_hyphens(t: &[char]) -> Vec<Vec<char>> {
    let at = |i: usize| t.get(i).copied();
    let is = |i: usize, f: fn(char) -> bool| at(i).is_some_and(f);
    // `-{2,}\w` from `i` (greedy, so the character after all the dashes is the word one).
    let dashes_then_word = |i: usize| {
        let n = t[i.min(t.len())..]
            .iter()
            .take_while(|c| **c == '-')
            .count();
        (n >= 2 && is(i + n, word)).then_some(n)
    };
    let mut chunks = Vec::new();
    let mut i = 0;
    while i < t.len() {
        let end = if ws(t[i]) {
            // any whitespace
            i + t[i..].iter().take_while(|c| ws(**c)).count()
        } else if let Some(n) = (i > 0 && word_punct(t[i - 1]))
            .then(|| dashes_then_word(i))
            .flatten()
        {
            // em-dash between words
            i + n
        } else {
            // a word, possibly hyphenated: the shortest run of non-space that ends at one of
            // the three alternatives, tried in order at each length.
            let mut j = i + 1;
            loop {
                // hyphenated word: `-` preceded by two letters or `letter-letter`, followed
                // by `letter -? letter`.
                if at(j) == Some('-') {
                    let behind = (j >= 2 && is(j - 2, letter) && is(j - 1, letter))
                        || (j >= 3
                            && is(j - 3, letter)
                            && at(j - 2) == Some('-')
                            && is(j - 1, letter));
                    let ahead = is(j + 1, letter)
                        && (is(j + 2, letter) || (at(j + 2) == Some('-') && is(j + 3, letter)));
                    if behind && ahead {
                        break j + 1;
                    }
                }
                // end of word
                if j == t.len() || ws(t[j]) {
                    break j;
                }
                // em-dash
                if word_punct(t[j - 1]) && dashes_then_word(j).is_some() {
                    break j;
                }
                j += 1;
            }
        };
        chunks.push(t[i..end].to_vec());
        i = end;
    }
    chunks
}

/// `wordsep_simple_re.split(text)` without empty strings: whitespace runs and the rest.
fn split_simple(t: &[char]) -> Vec<Vec<char>> {
    let mut chunks: Vec<Vec<char>> = Vec::new();
    for &c in t {
        match chunks.last_mut() {
            Some(last) if last.first().is_some_and(|f| ws(*f) == ws(c)) => last.push(c),
            _ => chunks.push(vec![c]),
        }
    }
    chunks
}

/// `textwrap.wrap(text, width, expand_tabs=False, replace_whitespace=False,
/// break_long_words=…, break_on_hyphens=…)`.
pub(super) fn wrap(
    text: &str,
    width: usize,
    break_long_words: bool,
    break_on_hyphens: bool,
) -> Vec<String> {
    let t: Vec<char> = text.chars().collect();
    let mut chunks = if break_on_hyphens {
        split_hyphens(&t)
    } else {
        split_simple(&t)
    };
    // `_wrap_chunks`, the chunks reversed so that the next one is the last.
    chunks.reverse();
    let mut lines: Vec<String> = Vec::new();
    while !chunks.is_empty() {
        let mut cur_line: Vec<Vec<char>> = Vec::new();
        let mut cur_len = 0;
        if !lines.is_empty() && chunks.last().is_some_and(|c| blank(c)) {
            chunks.pop();
        }
        while let Some(next) = chunks.last() {
            if cur_len + next.len() <= width {
                cur_len += next.len();
                cur_line.extend(chunks.pop());
            } else {
                break;
            }
        }
        if chunks.last().is_some_and(|c| c.len() > width) {
            handle_long_word(
                &mut chunks,
                &mut cur_line,
                cur_len,
                width,
                break_long_words,
                break_on_hyphens,
            );
        }
        if cur_line.last().is_some_and(|c| blank(c)) {
            cur_line.pop();
        }
        if !cur_line.is_empty() {
            lines.push(cur_line.concat().into_iter().collect());
        }
    }
    lines
}

/// `_handle_long_word`: a chunk longer than a line is cut to fill the line (after its last
/// hyphen that fits, when breaking on hyphens and something other than hyphens precedes it),
/// or, not breaking long words, put alone on a line of its own.
fn handle_long_word(
    chunks: &mut Vec<Vec<char>>,
    cur_line: &mut Vec<Vec<char>>,
    cur_len: usize,
    width: usize,
    break_long_words: bool,
    break_on_hyphens: bool,
) {
    let space_left = if width < 1 { 1 } else { width - cur_len };
    if break_long_words {
        let Some(chunk) = chunks.last_mut() else {
            return;
        };
        let mut end = space_left.min(chunk.len());
        if break_on_hyphens && chunk.len() > space_left {
            // `chunk.rfind('-', 0, space_left)`
            if let Some(hyphen) = chunk[..space_left].iter().rposition(|c| *c == '-')
                && hyphen > 0
                && chunk[..hyphen].iter().any(|c| *c != '-')
            {
                end = hyphen + 1;
            }
        }
        let rest = chunk.split_off(end);
        cur_line.push(std::mem::replace(chunk, rest));
    } else if cur_line.is_empty() {
        cur_line.extend(chunks.pop());
    }
}

/// `wordwrap(width=79, break_long_words=True, wrapstring=None, break_on_hyphens=True)`, as
/// Jinja2 defines it: each line of the value (`str.splitlines()`) wrapped by itself, the
/// lines joined by `wrapstring` (the newline sequence, `\n`, when not given).
pub(super) fn wordwrap(value: &str, args: Rest<Value>, kwargs: Kwargs) -> Result<String, Error> {
    let names = [
        "width",
        "break_long_words",
        "wrapstring",
        "break_on_hyphens",
    ];
    let [width, break_long, wrapstring, break_hyphens] =
        super::jinja2::bind("wordwrap", names, &args, &kwargs)?;
    let width = match width {
        None => 79,
        Some(w) => i64::try_from(w).map_err(|_| err("wordwrap", "width is not a whole number"))?,
    };
    if width <= 0 {
        return Err(err(
            "wordwrap",
            format!("invalid width {width} (must be > 0)"),
        ));
    }
    let wrapstring = match wrapstring {
        Some(s) if !s.is_none() => s.to_string(),
        _ => "\n".to_string(),
    };
    let break_long = break_long.is_none_or(|v| v.is_true());
    let break_hyphens = break_hyphens.is_none_or(|v| v.is_true());
    let lines: Vec<String> = super::jinja2::splitlines(value)
        .iter()
        .map(|line| wrap(line, width as usize, break_long, break_hyphens).join(&wrapstring))
        .collect();
    Ok(lines.join(&wrapstring))
}
