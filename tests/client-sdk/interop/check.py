#!/usr/bin/env python3
"""Judges the interop matrix (tests/client-sdk/interop/README.md).

Every SDK's runner appended one JSON object per step to the same file. This
checks, for every SDK and every step, that the line exists once and carries
the expected values, and that all SDKs agree on every field but "sdk" (so a
field only one SDK writes, or writes differently, is caught even where no
value is expected). Prints a steps x SDKs table; exit status 1 on any
failure, 2 for bad usage.

usage: check.py --sdks "cpp go python" --key-urls N RESULTS.jsonl
"""

import argparse
import collections
import json
import sys

STEPS = [
    "get", "post", "not_found", "wait_timeout", "denied", "pool_keys",
    "stream", "stats", "tls_token", "tls_bad_token", "mtls", "restart_get",
    "post_not_replayed",
]

STREAM_FETCHES = 100


def expected_values(key_url_count):
    """Step -> {field: value} every SDK's line must carry."""
    ok = {"code": "OK", "reason": ""}

    def failed(code, reason):
        return {"code": code, "reason": reason, "status": 0}

    return {
        "get": dict(ok, status=200, pool_key_match=True),
        "post": dict(ok, status=200, body="interop"),
        "not_found": dict(ok, status=404),
        "wait_timeout": dict(failed("DEADLINE_EXCEEDED", "WAIT_TIMEOUT"),
                             first_status=200),
        "denied": failed("PERMISSION_DENIED", "DESTINATION_DENIED"),
        "pool_keys": dict(ok, status=0, checked=key_url_count, mismatches=[]),
        "stream": dict(ok, status=200, ok=STREAM_FETCHES,
                       matched=STREAM_FETCHES),
        "stats": dict(ok, status=0, pool_found=True),
        "tls_token": dict(ok, status=200),
        "tls_bad_token": failed("UNAUTHENTICATED", "UNAUTHENTICATED"),
        "mtls": dict(ok, status=200),
        "restart_get": dict(ok, status=200),
        "post_not_replayed": dict(failed("UNAVAILABLE", ""), origin_hits=1),
    }


def same(a, b):
    """JSON equality that keeps true apart from 1 (Python says True == 1)."""
    return type(a) is type(b) and a == b


def show(value):
    return json.dumps(value, sort_keys=True)


def read_lines(lines, sdks):
    """(sdk, step) -> line dict, plus problems found while reading."""
    found = {}
    problems = []
    for number, text in enumerate(lines, 1):
        text = text.strip()
        if not text:
            continue
        try:
            line = json.loads(text)
        except ValueError as error:
            problems.append(f"line {number}: not JSON ({error}): {text[:80]}")
            continue
        if not isinstance(line, dict):
            problems.append(f"line {number}: not a JSON object")
            continue
        sdk, step = line.get("sdk"), line.get("step")
        if sdk not in sdks:
            problems.append(f"line {number}: unexpected sdk {show(sdk)}")
        elif step not in STEPS:
            problems.append(f"line {number}: {sdk}: unknown step {show(step)}")
        elif (sdk, step) in found:
            problems.append(f"line {number}: {sdk}: step {step} written twice")
        else:
            found[(sdk, step)] = line
    return found, problems


def check(lines, sdks, key_url_count):
    """Returns (cells, problems): cells[(step, sdk)] is a list of failures
    (empty: passed); problems are failures outside any cell."""
    found, problems = read_lines(lines, sdks)
    expected = expected_values(key_url_count)
    cells = {}
    for step in STEPS:
        for sdk in sdks:
            line = found.get((sdk, step))
            if line is None:
                cells[(step, sdk)] = ["no line"]
                continue
            cells[(step, sdk)] = [
                f"{field}={show(line.get(field, '<missing>'))}"
                f" (want {show(want)})"
                for field, want in expected[step].items()
                if not same(line.get(field), want)
            ]
        present = [sdk for sdk in sdks if (sdk, step) in found]
        fields = sorted({field for sdk in present
                         for field in found[(sdk, step)]} - {"sdk"})
        for field in fields:
            values = {sdk: show(found[(sdk, step)].get(field, "<missing>"))
                      for sdk in present}
            if len(set(values.values())) <= 1:
                continue
            majority = collections.Counter(values.values()).most_common(1)[0][0]
            for sdk, value in values.items():
                if value != majority:
                    note = f"{field}={value} (most SDKs: {majority})"
                    if not any(n.startswith(f"{field}=") for n in cells[(step, sdk)]):
                        cells[(step, sdk)].append(note)
    return cells, problems


def render(cells, problems, sdks):
    width = max(len(step) for step in STEPS)
    out = ["step".ljust(width) + "  " + "  ".join(sdk.ljust(6) for sdk in sdks)]
    for step in STEPS:
        marks = ["✓" if not cells[(step, sdk)] else "✗" for sdk in sdks]
        out.append(step.ljust(width) + "  " +
                   "  ".join(mark.ljust(6) for mark in marks))
    silent = [sdk for sdk in sdks
              if all(cells[(step, sdk)] == ["no line"] for step in STEPS)]
    failures = [f"  {sdk}: no lines at all" for sdk in silent]
    failures += [f"  {sdk} {step}: {'; '.join(cells[(step, sdk)])}"
                 for step in STEPS for sdk in sdks
                 if cells[(step, sdk)] and sdk not in silent]
    if failures or problems:
        out.append("failures:")
        out.extend(failures)
        out.extend(f"  {problem}" for problem in problems)
    return "\n".join(out)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sdks", required=True,
                        help="space-separated SDK names that must be present")
    parser.add_argument("--key-urls", type=int, required=True,
                        help="how many FETCHPOOL_KEY_URLS there were")
    parser.add_argument("results")
    args = parser.parse_args(argv)
    sdks = args.sdks.split()
    if not sdks:
        parser.error("--sdks is empty")
    with open(args.results, encoding="utf-8") as results:
        cells, problems = check(results.readlines(), sdks, args.key_urls)
    print(render(cells, problems, sdks))
    passed = not problems and not any(cells.values())
    print(f"interop: {'PASS' if passed else 'FAIL'} "
          f"({len(STEPS)} steps x {len(sdks)} SDKs)")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
