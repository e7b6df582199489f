//! Loader tests: every syntax variant (`syntax`), every parse error (`errors`) and every check
//! after parsing (`checks`), each error asserted to name file, line and key.

use std::net::IpAddr;
use std::path::Path;

use super::*;

mod checks;
mod errors;
mod syntax;

pub(super) const FILE: &str = "rendered/h1/compose.yml";

/// A file with one service `app` (image line 3) and a dual-stack network `net`; `body` goes
/// under the service from line 4.
pub(super) fn file(body: &str) -> String {
    format!(
        "services:\n  app:\n    image: app:1\n{body}networks:\n  net:\n    enable_ipv6: true\n    \
         ipam:\n      config:\n        - subnet: 10.0.0.0/24\n          gateway: 10.0.0.1\n        \
         - subnet: fd00::/64\n          gateway: fd00::1\n"
    )
}

/// [`file`] with `app` on `net`; `body` from line 5.
pub(super) fn svc(body: &str) -> String {
    file(&format!("    networks: [net]\n{body}"))
}

pub(super) fn ok(text: &str) -> Compose {
    parse(Path::new(FILE), text).unwrap_or_else(|e| panic!("{e}\n---\n{text}"))
}

pub(super) fn app(text: &str) -> ContainerSpec {
    ok(text).services["app"].spec.clone()
}

pub(super) fn err(text: &str) -> ComposeError {
    match parse(Path::new(FILE), text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e,
    }
}

/// Asserts that one problem's line reads `PREFIX...FRAGMENT...` (PREFIX is file:line: scope:
/// key:).
pub(super) fn assert_problem(text: &str, prefix: &str, fragment: &str) {
    let e = err(text);
    let file = Path::new(FILE);
    let shown: Vec<String> = e.problems().iter().map(|p| p.display(file)).collect();
    assert!(
        shown
            .iter()
            .any(|s| s.starts_with(prefix) && s.contains(fragment)),
        "want {prefix}…{fragment}\ngot:\n{}\n---\n{text}",
        shown.join("\n")
    );
    // The error's own Display is the same lines.
    assert_eq!(e.to_string(), shown.join("\n"));
}

pub(super) fn words(w: &[&str]) -> Vec<String> {
    w.iter().map(|s| s.to_string()).collect()
}

pub(super) fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}
