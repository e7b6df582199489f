"""Renders every case of a corpus (tests/jinja2/cases.yml) with Python's Jinja2, configured as
nxinfra's engine is (docs/templates.md: trim_blocks, lstrip_blocks, one trailing newline
removed, undefined is an error, no autoescape), and prints {name: {"out": text} or
{"error": message}} as JSON. tests/jinja2_parity.rs compares nxinfra's renders with it."""

import json
import sys

import jinja2
import yaml


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        cases = yaml.safe_load(f)
    results = {}
    for case in cases:
        env = jinja2.Environment(
            loader=jinja2.DictLoader(case.get("files") or {}),
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            undefined=jinja2.StrictUndefined,
            autoescape=False,
            extensions=["jinja2.ext.loopcontrols"],
        )
        try:
            out = env.from_string(case["template"]).render(**(case.get("vars") or {}))
            results[case["name"]] = {"out": out}
        except Exception as e:  # every failure is a result: nxinfra must fail too
            results[case["name"]] = {"error": f"{type(e).__name__}: {e}"}
    json.dump(results, sys.stdout, ensure_ascii=False)


main()
