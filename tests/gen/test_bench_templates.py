#!/usr/bin/python3
"""The benchmark's configuration templates against their render calls.

bench/scenarios/*.sh render the templates in bench/scenarios/ with
`render TEMPLATE OUT KEY=VALUE...` (lib.sh), which stops the run when a
placeholder (@KEY@) is left without a value. Such a call only runs deep in a
benchmark, so this test checks every call statically: each render of a
template must give every placeholder the template has, and nothing it does
not have. Exit 0 when all match, 1 with one line per mismatch.

    test_bench_templates.py BENCH_SCENARIOS_DIR
"""
import os
import re
import sys


def calls(text):
    """(template name, set of keys, line) of every render call in text."""
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        start = i
        m = re.match(r'\s*render\s+"\$BENCH_SCEN_DIR/([^"]+)"', line)
        # a call continues over lines ending in a backslash
        while line.rstrip().endswith("\\") and i + 1 < len(lines):
            i += 1
            line = line.rstrip()[:-1] + " " + lines[i]
        if m:
            keys = set(re.findall(r'(?:^|\s)([A-Z][A-Z0-9_]*)=', line[m.end():]))
            yield m.group(1), keys, start + 1
        i += 1


def main():
    d = sys.argv[1]
    bad = 0
    seen = 0
    for name in sorted(os.listdir(d)):
        if not name.endswith(".sh"):
            continue
        path = os.path.join(d, name)
        for tmpl, keys, line in calls(open(path).read()):
            seen += 1
            want = set(re.findall(r"@([A-Z][A-Z0-9_]*)@", open(os.path.join(d, tmpl)).read()))
            for k in sorted(want - keys):
                print(f"{path}:{line}: render {tmpl}: no value for @{k}@")
                bad += 1
            for k in sorted(keys - want):
                print(f"{path}:{line}: render {tmpl}: {k}= is not a placeholder of it")
                bad += 1
    if seen == 0:
        print(f"{d}: no render calls found")
        return 1
    print(f"{seen} render calls checked, {bad} mismatches")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
