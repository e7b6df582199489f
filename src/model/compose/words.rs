//! Splitting a string `command` / `entrypoint` into words, as Compose does: like a POSIX shell
//! reads one simple command, with quotes and backslashes, but no variables, globbing or
//! comments (a `#` is an ordinary character, as in Compose; the `shlex` crate would start a
//! comment there, hence this small splitter).

/// The words of `line`; the error never quotes the line (a command may carry a secret).
pub fn split(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    // A word has started, even if empty (`''`).
    let mut started = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                if started {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            '\\' => {
                let next = chars
                    .next()
                    .ok_or("ends with a lone backslash: write the command as a list")?;
                // A backslash-newline joins lines.
                if next != '\n' {
                    word.push(next);
                    started = true;
                }
            }
            '\'' => {
                started = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => word.push(ch),
                        None => return Err(unbalanced('\'')),
                    }
                }
            }
            '"' => {
                started = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(ch @ ('"' | '\\' | '$' | '`')) => word.push(ch),
                            Some('\n') => {}
                            Some(ch) => {
                                word.push('\\');
                                word.push(ch);
                            }
                            None => return Err(unbalanced('"')),
                        },
                        Some(ch) => word.push(ch),
                        None => return Err(unbalanced('"')),
                    }
                }
            }
            _ => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        words.push(word);
    }
    Ok(words)
}

fn unbalanced(quote: char) -> String {
    format!("unbalanced {quote} quote: close it, or write the command as a list")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_a_shell() {
        let cases: &[(&str, &[&str])] = &[
            ("serve", &["serve"]),
            ("  a   b\tc\n", &["a", "b", "c"]),
            (
                "sh -c 'echo $$x; exit 1'",
                &["sh", "-c", "echo $$x; exit 1"],
            ),
            (r#"a "b c" d"#, &["a", "b c", "d"]),
            (r#"a "x\"y\\z\n" b"#, &["a", r#"x"y\z\n"#, "b"]),
            (r"a\ b c", &["a b", "c"]),
            ("a '' b", &["a", "", "b"]),
            ("a#b #c", &["a#b", "#c"]),
            ("pre'fix'\"ed\"", &["prefixed"]),
            ("", &[]),
        ];
        for (line, want) in cases {
            assert_eq!(split(line).unwrap(), *want, "{line:?}");
        }
    }

    #[test]
    fn refuses_unbalanced_quotes_without_quoting_the_line() {
        for line in ["a 'secret", "a \"secret", "secret\\"] {
            let err = split(line).unwrap_err();
            assert!(!err.contains("secret"), "{err}");
        }
    }
}
