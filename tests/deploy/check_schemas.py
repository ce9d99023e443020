#!/usr/bin/env python3
"""ctest deploy_schema: every object of the rendered base (deploy/k8s) and
example overlay (deploy/k8s/overlays/example) against the Kubernetes API's
own JSON schemas (kubernetes-validate, offline, strict: an unknown or
misspelt field fails), for the oldest release the manifests support (1.27:
native gRPC probes) and for a current one. Custom resources (the
ServiceMonitor, the PrometheusRule) have no schema there: they go to
OPERATOR_CHECK (tests/deploy/operator_check), which decodes them strictly
into the Prometheus Operator's API types; check_kustomize.py checks what
their fields say.

Usage: check_schemas.py REPO_ROOT OPERATOR_CHECK
       (with the venv of schema_check_setup.sh)
"""
import json
import subprocess
import sys
from pathlib import Path

import kubernetes_validate

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kustomize_render import BASE, OVERLAY, RenderError, finish, render  # noqa: E402

KUBERNETES_VERSIONS = ("1.27.0", "1.32.0")
# API groups of custom resources: validated by operator_check instead.
CUSTOM_RESOURCE_GROUPS = ("monitoring.coreos.com/",)


def check_custom_resources(operator_check, relative, objects, failures):
    """The custom resources of one rendering, through operator_check."""
    lines = "".join(json.dumps(obj) + "\n" for obj in objects)
    run = subprocess.run([operator_check], input=lines, capture_output=True, text=True,
                         check=False)
    for line in (run.stdout + run.stderr).splitlines():
        print(f"{relative}: operator_check: {line}")
    if run.returncode != 0:
        failures.append(f"{relative}: operator_check failed (exit {run.returncode})")


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: check_schemas.py REPO_ROOT OPERATOR_CHECK")
    root = Path(sys.argv[1]).resolve()
    operator_check = sys.argv[2]
    failures = []
    for relative in (BASE, OVERLAY):
        try:
            objects = render(root / relative)
        except RenderError as e:
            failures.append(f"{relative}: {e}")
            continue
        custom = [o for o in objects if o.get("apiVersion", "").startswith(CUSTOM_RESOURCE_GROUPS)]
        if custom:
            check_custom_resources(operator_check, relative, custom, failures)
        checked = 0
        for obj in objects:
            name = f"{relative}: {obj.get('kind')} {obj.get('metadata', {}).get('name')}"
            if obj in custom:
                continue
            for version in KUBERNETES_VERSIONS:
                try:
                    kubernetes_validate.validate(obj, version, strict=True)
                except kubernetes_validate.ValidationError as e:
                    failures.append(f"{name} (Kubernetes {version}): {e.message} at {list(e.path)}")
                except kubernetes_validate.SchemaNotFoundError as e:
                    failures.append(f"{name} (Kubernetes {version}): {e}")
            checked += 1
        print(f"{relative}: {checked} objects checked against Kubernetes {', '.join(KUBERNETES_VERSIONS)}")
    finish(failures, "every built-in object validates against the Kubernetes schemas, "
                     "every Prometheus Operator object against the Operator's types")


if __name__ == "__main__":
    main()
