//! Ansible-style filters and `wg_pubkey` for the template environment.
//!
//! The filters follow Ansible's (Jinja2/Python) semantics; the deliberate differences are:
//!
//! - `to_yaml` is block style (Ansible: flow style for leaf collections); `to_yaml` and
//!   `to_nice_yaml` keep the keys' insertion order (Ansible sorts; pass `sort_keys=true`) and
//!   `to_nice_yaml` indents by 2 by default (Ansible: 4). Multi-line strings become literal
//!   blocks (`|`). Strings that YAML 1.1 (PyYAML) or YAML 1.2 would read as something else
//!   (`'yes'`, `'on'`, `'1:20'`, `'1.0'`, `'null'`…) are quoted.
//! - `from_yaml` parses YAML 1.2 (`yes`/`on` stay strings).
//! - `bool` accepts ansible-core 2.19's `yes/on/true/1` and `no/off/false/0` (any case), none
//!   and `''`, and errors on anything else (ansible-core warns and returns false).
//! - `hash` supports sha224/sha256/sha384/sha512 only (Ansible's default sha1 is not supported:
//!   the algorithm must be given).
//! - `regex_findall` with several groups gives tuples, as Python's `re.findall`.
//! - `mandatory` also rejects `none`.
//! - `ipaddr` supports the queries documented on [`ipaddr`]; `'address'` always strips the
//!   prefix length (Ansible returns none for the network address of a subnet).
//!
//! Undefined input propagates minijinja's strict-undefined error. Every other error names the
//! filter (`wg_pubkey: not a base64-encoded 32-byte key`).

pub(super) use std::fmt::Write as _;
pub(super) use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
pub(super) use std::sync::LazyLock;

pub(super) use ::regex::{Regex, RegexBuilder};
pub(super) use base64::Engine as _;
pub(super) use base64::engine::general_purpose::STANDARD;
pub(super) use minijinja::value::{Kwargs, Rest, StringInput, ValueKind, ValueOrKwargs};
pub(super) use minijinja::{Environment, Error, ErrorKind, State, Value};
pub(super) use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};

mod combine;
mod encoding;
mod helpers;
mod ipaddr;
mod jinja2;
pub use jinja2::{formatter, unknown_method};
mod json;
mod misc;
mod python;
mod pywrap;
mod regexes;
mod yaml;

use combine::*;
use encoding::*;
use helpers::*;
use ipaddr::*;
use json::*;
use misc::*;
use regexes::*;
use yaml::*;

#[cfg(test)]
mod tests;

/// Registers every nxinfra filter on `env`.
///
/// Call it after `minijinja_contrib::add_to_environment` so these definitions win (`bool`
/// replaces minijinja's builtin with Ansible's string semantics).
pub fn register(env: &mut Environment<'_>) {
    // Jinja2's own definitions where minijinja's differ or are missing.
    env.add_filter("indent", jinja2::indent);
    env.add_filter("center", jinja2::center);
    env.add_filter("wordcount", jinja2::wordcount);
    env.add_filter("truncate", jinja2::truncate);
    env.add_filter("replace", jinja2::replace);
    env.add_filter("dictsort", jinja2::dictsort);
    env.add_filter("forceescape", jinja2::forceescape);
    env.add_filter("xmlattr", jinja2::xmlattr);
    env.add_filter("wordwrap", pywrap::wordwrap);
    env.add_filter("format", jinja2::format);
    env.add_filter("min", jinja2::min);
    env.add_filter("max", jinja2::max);
    env.add_filter("int", jinja2::int);
    env.add_filter("float", jinja2::float);
    env.add_filter("pprint", jinja2::pprint);
    env.add_filter("string", jinja2::string);
    env.add_filter("join", jinja2::join);
    env.add_test("sequence", jinja2::is_sequence);
    env.add_test("iterable", jinja2::is_iterable);
    env.add_test("callable", jinja2::is_callable);
    env.add_function("range", python::range);
    env.add_filter("to_yaml", to_yaml);
    env.add_filter("to_nice_yaml", to_nice_yaml);
    env.add_filter("tojson", tojson);
    env.add_filter("to_json", to_json);
    env.add_filter("to_nice_json", to_nice_json);
    env.add_filter("from_json", from_json);
    env.add_filter("from_yaml", from_yaml);
    env.add_filter("b64encode", b64encode);
    env.add_filter("b64decode", b64decode);
    env.add_filter("regex_replace", regex_replace);
    env.add_filter("regex_search", regex_search);
    env.add_filter("regex_findall", regex_findall);
    env.add_filter("combine", combine);
    env.add_filter("hash", hash);
    env.add_filter("wg_pubkey", wg_pubkey);
    env.add_filter("ternary", ternary);
    env.add_filter("bool", to_bool);
    env.add_filter("dict2items", dict2items);
    env.add_filter("items2dict", items2dict);
    env.add_filter("basename", basename);
    env.add_filter("dirname", dirname);
    env.add_filter("quote", quote);
    env.add_filter("mandatory", mandatory);
    env.add_filter("flatten", flatten);
    env.add_filter("ipaddr", ipaddr);
    env.add_filter("ipv4", ipv4);
    env.add_filter("ipv6", ipv6);
}
