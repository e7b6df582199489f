//! Colour on a terminal: diffs with removed lines red and added lines green, as git and
//! terraform show them. Only when stdout is a terminal and `NO_COLOR` is not set
//! (<https://no-color.org>): a pipe, a file and CI logs get plain text. Not `anstream`: its
//! choice also reads `CLICOLOR`, `CLICOLOR_FORCE`, `TERM` and `CI` (docs/dependencies.md).

use std::borrow::Cow;
use std::io::IsTerminal;

use anstyle::{AnsiColor, Style};

/// Whether stdout gets colour.
pub fn stdout_enabled() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// A unified diff's text with its lines coloured (headers bold, hunks cyan, `-` red, `+`
/// green); `text` unchanged when `enabled` is false.
pub fn diff(text: &str, enabled: bool) -> Cow<'_, str> {
    if !enabled {
        return Cow::Borrowed(text);
    }
    let style_of = |line: &str| -> Style {
        if line.starts_with("+++ ") || line.starts_with("--- ") {
            Style::new().bold()
        } else if line.starts_with("@@") {
            AnsiColor::Cyan.on_default()
        } else if line.starts_with('-') {
            AnsiColor::Red.on_default()
        } else if line.starts_with('+') {
            AnsiColor::Green.on_default()
        } else {
            Style::new()
        }
    };
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    for line in text.split_inclusive('\n') {
        let (body, end) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        let style = style_of(body);
        if style == Style::new() {
            out.push_str(line);
        } else {
            out.push_str(&format!("{style}{body}{style:#}{end}"));
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_lines_are_coloured_only_when_enabled() {
        let text = "--- h1:a\n+++ h1:a\n@@ -1 +1 @@\n-old\n+new\n same\n";
        assert_eq!(diff(text, false), text);
        let coloured = diff(text, true);
        assert!(coloured.contains("\x1b[31m-old\x1b[0m\n"), "{coloured:?}");
        assert!(coloured.contains("\x1b[32m+new\x1b[0m\n"), "{coloured:?}");
        assert!(
            coloured.contains("\x1b[1m--- h1:a\x1b[0m\n"),
            "{coloured:?}"
        );
        assert!(coloured.ends_with(" same\n"));
        // Without the escapes, the same text.
        let plain: String = coloured
            .split('\x1b')
            .enumerate()
            .map(|(i, part)| {
                if i == 0 {
                    part
                } else {
                    part.split_once('m').map_or(part, |(_, rest)| rest)
                }
            })
            .collect();
        assert_eq!(plain, text);
    }
}
