//! Quoting for POSIX shells, as Python's `shlex.quote`: used by the `quote` filter and for every
//! path nxinfra puts in a remote command. Hand-written because the filter's output must be
//! Python's byte for byte, which neither `shell-escape` nor `shlex` gives
//! (docs/dependencies.md).

/// `s` as one shell word: unchanged when it holds only safe characters, else single-quoted.
pub fn quote(s: &str) -> String {
    if s.is_empty() {
        return "''".into();
    }
    let safe = |c: char| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c);
    if s.chars().all(safe) {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\"'\"'"))
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn like_shlex_quote() {
        assert_eq!(quote(""), "''");
        assert_eq!(quote("/home/nxthdr/a-b_c.conf"), "/home/nxthdr/a-b_c.conf");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\"'\"'s'");
        assert_eq!(quote("$(rm -rf /)"), "'$(rm -rf /)'");
    }

    #[test]
    fn round_trips_through_sh() {
        for s in [
            "plain",
            "two words",
            "it's",
            "$HOME `x` \"q\" \\ ;|&",
            "new\nline",
            "*",
        ] {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf %s {}", quote(s)))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), s);
        }
    }
}
