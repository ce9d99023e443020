#!/usr/bin/env python3
"""ctests deploy_alert_rules_check and deploy_alert_rules_test: the alert
rules of deploy/prometheus/fetchpool-rules.yaml, with Debian's promtool
(package prometheus, which ./dev.sh deps installs; missing is a failure,
never a skip).

check: `promtool check rules`; every alert has `for:`, a severity label
  (critical, warning or info) and the annotations summary, description
  (quoting a label, and $value but for `up`) and runbook; every fetchpool_* name in an
  expression is a metric fetchpoold exports (read from
  pool/pool_stats_fields.h and server/metrics_exporter.cc, so a renamed
  metric fails here); the PrometheusRule of deploy/k8s/components/alerts is
  generated from the rules file (gen_prometheusrule.py --check).
test: `promtool test rules` on deploy/prometheus/tests/*.yaml; every
  alert has a case where it fires and one where it must not; and the tests
  pin each `for:`: with it one minute shorter, or one minute longer, the
  tests must fail (README's table gives these durations).

Usage: check_alert_rules.py check|test REPO_ROOT
"""
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

RULES = "deploy/prometheus/fetchpool-rules.yaml"
TESTS = "deploy/prometheus/tests"
SEVERITIES = {"critical", "warning", "info"}

errors = []


def fail(message):
    errors.append(message)


def promtool(*args, quiet=False):
    """Runs promtool, printing its output; a failed run is an error unless
    quiet (then the caller judges the result)."""
    if not shutil.which("promtool"):
        fail("promtool is not installed (Debian package prometheus): run ./dev.sh deps")
        return False
    run = subprocess.run(["promtool", *args], capture_output=True, text=True, check=False)
    if not quiet:
        print(run.stdout + run.stderr, end="")
        if run.returncode != 0:
            fail(f"promtool {' '.join(args[:2])} failed (exit {run.returncode})")
    return run.returncode == 0


def minutes(duration):
    m = re.fullmatch(r"(\d+)m", duration or "")
    return int(m.group(1)) if m else None


def check_for_is_pinned(files, rules_text):
    """Runs the tests on copies of the rules with one alert's `for:` a
    minute shorter or longer: each copy must fail. The tests name
    ../fetchpool-rules.yaml, so rules and tests are copied side by side."""
    rules_file = yaml.safe_load(rules_text)
    pinned = 0
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "tests").mkdir()
        copies = []
        for path in files:
            copy = Path(tmp) / "tests" / path.name
            copy.write_text(path.read_text())
            copies.append(str(copy))
        for rule in alerts_of(rules_file):
            base = minutes(rule.get("for"))
            if base is None:
                fail(f"{rule['alert']}: `for: {rule.get('for')}` is not whole minutes")
                continue
            caught = True
            for changed in (base - 1, base + 1):
                rule["for"] = f"{changed}m"
                (Path(tmp) / RULES.split("/")[-1]).write_text(yaml.safe_dump(rules_file))
                if promtool("test", "rules", *copies, quiet=True):
                    fail(f"{rule['alert']}: the tests still pass with `for: {changed}m`")
                    caught = False
            rule["for"] = f"{base}m"
            pinned += caught
    return pinned


def alerts_of(rules_file):
    return [r for g in rules_file["groups"] for r in g["rules"] if "alert" in r]


def exported_metrics(root):
    """The metric names fetchpoold serves: the X-macro stats fields
    (counters get _total once), the histograms and the families the
    exporter adds by hand, as server/metrics_exporter.cc builds them."""
    fields = (root / "pool/pool_stats_fields.h").read_text()
    names = set()
    for field, kind in re.findall(r"X\((\w+),\s*\w+,\s*(k\w+),", fields):
        name = f"fetchpool_{field}"
        if kind == "kCounter" and not name.endswith("_total"):
            name += "_total"
        names.add(name)
    for histogram in re.findall(r'H\(\w+,\s*"(fetchpool_\w+)"', fields):
        names |= {f"{histogram}_{suffix}" for suffix in ("bucket", "sum", "count")}
    exporter = (root / "server/metrics_exporter.cc").read_text()
    names |= set(re.findall(r'Family\(\s*"(fetchpool_\w+)"', exporter))
    return names


def check(root):
    promtool("check", "rules", str(root / RULES))
    rules_file = yaml.safe_load((root / RULES).read_text())
    exported = exported_metrics(root)
    if len(exported) < 40:
        fail(f"found only {len(exported)} exported metric names: the parsing of the sources broke")
    for rule in alerts_of(rules_file):
        name = rule["alert"]
        if not rule.get("for"):
            fail(f"{name}: no `for:` (one bad scrape would page)")
        if rule.get("labels", {}).get("severity") not in SEVERITIES:
            fail(f"{name}: severity label should be one of {sorted(SEVERITIES)}")
        annotations = rule.get("annotations", {})
        for key in ("summary", "description", "runbook"):
            if not annotations.get(key):
                fail(f"{name}: no {key} annotation")
        description = annotations.get("description", "")
        # up's value is always 0 when it fires: the labels say it all.
        wants_value = not rule["expr"].startswith("up")
        if "$labels." not in description or (wants_value and "$value" not in description):
            fail(f"{name}: the description should quote a label and $value")
        for metric in set(re.findall(r"\bfetchpool_\w+", rule["expr"])):
            if metric not in exported:
                fail(f"{name}: {metric} is not a metric fetchpoold exports")
    gen = subprocess.run([sys.executable, str(root / "deploy/prometheus/gen_prometheusrule.py"),
                          "--check"], capture_output=True, text=True, check=False)
    print(gen.stdout + gen.stderr, end="")
    if gen.returncode != 0:
        fail("the PrometheusRule is out of date")
    print(f"{RULES}: {len(alerts_of(rules_file))} alerts checked against "
          f"{len(exported)} exported metric names")


def test(root):
    files = sorted((root / TESTS).glob("*.yaml"))
    if not files:
        fail(f"no tests in {TESTS}")
        return
    promtool("test", "rules", *map(str, files))
    rules_text = (root / RULES).read_text()
    pinned = check_for_is_pinned(files, rules_text)
    fires, quiet = set(), set()
    for path in files:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check_ in case.get("alert_rule_test", []):
                (fires if check_.get("exp_alerts") else quiet).add(check_["alertname"])
    names = [r["alert"] for r in alerts_of(yaml.safe_load(rules_text))]
    for name in names:
        if name not in fires:
            fail(f"{name}: no test case where it fires")
        if name not in quiet:
            fail(f"{name}: no test case where it must stay quiet")
    unknown = (fires | quiet) - set(names)
    if unknown:
        fail(f"tests name alerts the rules do not have: {sorted(unknown)}")
    print(f"{TESTS}: {len(files)} files; {len(fires & set(names))} of {len(names)} alerts "
          f"tested firing, {len(quiet & set(names))} tested quiet, the `for:` of {pinned} "
          f"pinned to the minute")


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("check", "test"):
        sys.exit("usage: check_alert_rules.py check|test REPO_ROOT")
    root = Path(sys.argv[2]).resolve()
    (check if sys.argv[1] == "check" else test)(root)
    for error in errors:
        print(f"FAIL: {error}")
    if errors:
        sys.exit(1)
    print(f"ok: the alert rules pass promtool {sys.argv[1]}")


if __name__ == "__main__":
    main()
