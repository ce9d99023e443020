#!/usr/bin/env python3
"""Every target of every panel of the Grafana dashboard, asked of a real
Prometheus (dashboard_panels_test.sh starts it; stdlib only).

  dashboard_panels_check.py DASHBOARD PROM_PORT INSTANCE START_UNIX LIMIT_SECONDS

The template variables are substituted as Grafana would: $instance with the
real instance label (so the variable's label is proven too), $host with its
allValue '.*', $__rate_interval with RATE_INTERVAL (4 x the 1 s scrape, as
Grafana computes it). The variables' own queries run first and must list the
instance and the hosts.

Each target is asked as a range query from START_UNIX to now, step 1 s, and
is "proven" when Prometheus accepts it, it returns at least one series, and
some sample of some series is a finite non-zero number: the panel would draw
a line that moved, not only a flat zero or NaN. Queries repeat (every 2 s,
until LIMIT_SECONDS) until every target is proven, so a slow build only
takes longer. A target in ZERO_OK needs a series but may stay at zero; each
has the reason its event does not happen under the test's load.

Fails (exit 1) when: a query is rejected (bad PromQL, unknown function), a
target returns no series, a target not in ZERO_OK never moves, a panel has
no target, or ZERO_OK names a target the dashboard does not have.
"""
import json
import math
import re
import sys
import time
import urllib.parse
import urllib.request

RATE_INTERVAL = "4s"

# (panel title, refId) -> why its value stays 0 under this load. Keep short:
# prefer making the test's load produce the event.
ZERO_OK = {
    ("Hosts folded into _other", "A"):
        "pools are folded only past the exporter's 1000-host label cap, which no flag lowers",
    ("Scrape timeouts", "A"):
        "counts scrapes the engine did not answer within 2 s: an engine stall, not load",
    ("Retries, stale connections, DNS lookups per second", "C"):
        "a pool's first lookup comes with its first fetch, so its series starts at 1 and rate() "
        "sees no step; curl caches the name for 60 s, past the test, before the next lookup "
        "(the test script checks the counter itself instead)",
}


def panels(nodes):
    """Every panel below `nodes`, rows' nested (collapsed) panels included."""
    for p in nodes:
        yield p
        yield from panels(p.get("panels", []))


def substitute(expr, values):
    def repl(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name not in values:
            raise KeyError(f"unknown template variable ${name} in {expr}")
        return values[name]
    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)", repl, expr)


def api(port, path, params):
    url = f"http://127.0.0.1:{port}{path}?" + urllib.parse.urlencode(params, doseq=True)
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:  # 400 for a bad query: the body says why
        return json.load(e)


def moved(result):
    """True when some sample of some series is finite and non-zero."""
    for series in result:
        for _, v in series.get("values", []):
            f = float(v)
            if not math.isnan(f) and not math.isinf(f) and f != 0:
                return True
    return False


def main():
    dashboard_path, port, instance, start, limit = sys.argv[1:6]
    begun = time.time()
    deadline = begun + float(limit)
    dashboard = json.load(open(dashboard_path))
    errors = []

    # The template variables' own queries, label_values(metric{...}, label),
    # asked until the scrapes have filled them in. $instance as Grafana
    # writes a selected value into a regex matcher: regex-escaped, then the
    # backslashes doubled for the PromQL string.
    # Grafana's own $__interval and $__range: none of today's panels uses
    # them; a window long enough for rate() if one does.
    values = {"instance": re.escape(instance).replace("\\", "\\\\"), "host": ".*",
              "__rate_interval": RATE_INTERVAL, "__interval": RATE_INTERVAL, "__range": "1m"}
    for var in dashboard.get("templating", {}).get("list", []):
        if var.get("type") != "query":
            continue
        q = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
        m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", q)
        if not m:
            errors.append(f"variable {var['name']}: cannot read query {q}")
            continue
        match, label = substitute(m.group(1), values), m.group(2)
        while True:
            got = api(port, f"/api/v1/label/{label}/values", {"match[]": match}).get("data", [])
            ok = got and (var["name"] != "instance" or instance in got)
            if ok or time.time() > deadline:
                break
            time.sleep(0.5)
        print(f"variable ${var['name']}: label_values({match}, {label}) -> {got}")
        if not ok:
            errors.append(f"variable ${var['name']} lists {got}")

    # (panel number, title, refId, expr); titles repeat (a stat and a graph
    # of the same thing), so a target is known by its position.
    targets = []
    seen = 0
    untested = set()  # panels with a target that is not PromQL, or none
    for p in panels(dashboard.get("panels", [])):
        if p.get("type") == "row":
            continue
        seen += 1
        exprs = [t for t in p.get("targets", []) if t.get("expr")]
        if not exprs or len(exprs) != len(p.get("targets", [])):
            errors.append(f"panel '{p.get('title')}' ({p.get('type')}) has a target without PromQL")
            untested.add(seen)
        for t in exprs:
            targets.append((seen, p.get("title", ""), t.get("refId", "?"), t["expr"]))
    keys = {(title, ref) for _, title, ref, _ in targets}
    for key in ZERO_OK:
        if key not in keys:
            errors.append(f"ZERO_OK names {key}, which the dashboard does not have")

    # Ask until every target that must move has moved, or the time is up.
    status = {}
    while True:
        end = time.time()
        for i, (_, title, ref, expr) in enumerate(targets):
            if status.get(i, (None,))[0] in ("proven", "rejected"):
                continue
            query = substitute(expr, values)
            ans = api(port, "/api/v1/query_range",
                      {"query": query, "start": start, "end": f"{end:.3f}", "step": "1"})
            if ans.get("status") != "success":
                status[i] = ("rejected", query, 0, ans.get("error", ans))
                continue
            result = ans["data"]["result"]
            if not result:
                state = "no series"
            elif moved(result):
                state = "proven"
            else:
                state = "flat zero/NaN"
            status[i] = (state, query, len(result), "")
        # A rejected query stays rejected: the others are still asked, so the
        # report shows them as they are.
        pending = [targets[i][1:3] for i, s in status.items()
                   if s[0] not in ("proven", "rejected") and
                   not (targets[i][1:3] in ZERO_OK and s[0] == "flat zero/NaN")]
        print(f"{time.time() - begun:5.1f}s: {len(pending)} targets still flat or empty {pending[:3]}",
              file=sys.stderr)
        if not pending or time.time() > deadline:
            break
        time.sleep(2)

    proven = allowed = 0
    panel_state = {}  # panel number -> worst of its targets: proven < allowed < failed
    for i, (panel, title, ref, expr) in enumerate(targets):
        state, query, n, err = status[i]
        note = ""
        if state == "proven":
            proven += 1
            rank = 0
        elif state == "flat zero/NaN" and (title, ref) in ZERO_OK:
            allowed += 1
            rank = 1
            note = f"  (allowed: {ZERO_OK[(title, ref)]})"
        else:
            rank = 2
            errors.append(f"'{title}' {ref}: {state} {err}")
        panel_state[panel] = max(panel_state.get(panel, 0), rank)
        print(f"{state.upper():13} {n:2} series  #{panel} {title} [{ref}]  {query}{note}")
    for panel in untested:
        panel_state[panel] = 2
    ranks = list(panel_state.values())
    print(f"{seen} panels ({ranks.count(0)} proven, {ranks.count(1)} with a target allowed at "
          f"zero, {ranks.count(2)} failed); {len(targets)} targets: {proven} proven, "
          f"{allowed} allowed at zero, {len(targets) - proven - allowed} failed")
    for e in errors:
        print("FAIL " + e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
