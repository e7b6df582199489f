"""Renders every case of a corpus (tests/jinja2/cases.yml) with Python's Jinja2, configured as
nxinfra's engine is (docs/templates.md: trim_blocks, lstrip_blocks, one trailing newline
removed, undefined is an error, no autoescape), and prints {name: {"out": text} or
{"error": message}} as JSON. tests/jinja2_parity.rs compares nxinfra's renders with it.

`render.py CORPUS ansible` (tests/jinja2/ansible_cases.yml) registers, in the same
environment, ansible-core's own definitions of the Ansible filters nxinfra provides (and only
those: the Jinja2 builtins stay Jinja2's, as in nxinfra), and for `ipaddr`/`ipv4`/`ipv6`,
which are not in ansible-core (ansible.utils, on netaddr), a reference on Python's `ipaddress`
(ipaddr_reference below)."""

import ipaddress
import json
import sys

import jinja2
import yaml

# The Ansible filters nxinfra provides (src/render/filters/mod.rs), by ansible-core's plugin.
ANSIBLE_CORE = [
    "to_yaml", "to_nice_yaml", "to_json", "to_nice_json", "from_json", "from_yaml",
    "b64encode", "b64decode", "regex_replace", "regex_search", "regex_findall", "combine",
    "hash", "ternary", "bool", "dict2items", "items2dict", "basename", "dirname", "quote",
    "mandatory", "flatten",
]
ANSIBLE_MATHSTUFF = ["unique"]


def ipaddr_reference(version=None):
    """ansible.utils' `ipaddr(query)` for the queries nxinfra documents, on Python's
    `ipaddress` (not netaddr): it checks nxinfra's address arithmetic against an independent
    implementation; the semantics of each query are ansible.utils' documented ones."""

    def one(value, query):
        try:
            iface = ipaddress.ip_interface(str(value).strip())
        except ValueError:
            return False
        if version is not None and iface.version != version:
            return False
        text = str(value).strip()
        had_prefix = "/" in text
        net = iface.network
        if isinstance(query, int) and not isinstance(query, bool):
            if net.prefixlen == net.max_prefixlen:
                return str(iface.ip)
            try:
                return f"{net[query]}/{net.prefixlen}"
            except IndexError:
                return False
        query = query or ""
        if query in ("", "bool"):
            return str(iface) if had_prefix else str(iface.ip)
        if query == "address":
            return str(iface.ip)
        if query == "prefix":
            return net.prefixlen
        if query == "network":
            return str(net.network_address)
        if query in ("subnet", "network/prefix", "net"):
            return str(net)
        if query == "netmask":
            return str(net.netmask)
        if query == "broadcast" and iface.version == 4:
            return str(net.broadcast_address)
        if query == "host":
            return str(iface)
        if query == "version":
            return iface.version
        if query in ("ipv4", "4", "ipv6", "6"):
            want = 4 if query in ("ipv4", "4") else 6
            if iface.version != want:
                return False
            return str(iface) if had_prefix else str(iface.ip)
        raise ValueError(f"unknown query {query!r}")

    def ipaddr(value, query=""):
        if isinstance(value, (list, tuple)):
            return [r for r in (one(v, query) for v in value) if r]
        return one(value, query)

    return ipaddr


def environment(files, ansible):
    env = jinja2.Environment(
        loader=jinja2.DictLoader(files or {}),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        extensions=["jinja2.ext.loopcontrols"],
    )
    if ansible:
        from ansible.plugins.filter.core import FilterModule as Core
        from ansible.plugins.filter.mathstuff import FilterModule as MathStuff

        core, math = Core().filters(), MathStuff().filters()
        env.filters.update({n: core[n] for n in ANSIBLE_CORE})
        env.filters.update({n: math[n] for n in ANSIBLE_MATHSTUFF})
        env.filters["ipaddr"] = ipaddr_reference()
        env.filters["ipv4"] = ipaddr_reference(4)
        env.filters["ipv6"] = ipaddr_reference(6)
    return env


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        cases = yaml.safe_load(f)
    ansible = sys.argv[2:] == ["ansible"]
    results = {}
    for case in cases:
        env = environment(case.get("files"), ansible)
        try:
            out = env.from_string(case["template"]).render(**(case.get("vars") or {}))
            results[case["name"]] = {"out": out}
        except Exception as e:  # every failure is a result: nxinfra must fail too
            results[case["name"]] = {"error": f"{type(e).__name__}: {e}"}
    json.dump(results, sys.stdout, ensure_ascii=False)


main()
