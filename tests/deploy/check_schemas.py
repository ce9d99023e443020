#!/usr/bin/env python3
"""ctest deploy_schema: every object of the rendered base (deploy/k8s) and
example overlay (deploy/k8s/overlays/example) against the Kubernetes API's
own JSON schemas (kubernetes-validate, offline, strict: an unknown or
misspelt field fails), for the oldest release the manifests support (1.27:
native gRPC probes) and for a current one. Custom resources (the
ServiceMonitor) have no schema there; check_kustomize.py checks their fields.

Usage: check_schemas.py REPO_ROOT  (with the venv of schema_check_setup.sh)
"""
import sys
from pathlib import Path

import kubernetes_validate

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kustomize_render import BASE, OVERLAY, RenderError, finish, render  # noqa: E402

KUBERNETES_VERSIONS = ("1.27.0", "1.32.0")
# API groups of custom resources: validated by check_kustomize.py instead.
CUSTOM_RESOURCE_GROUPS = ("monitoring.coreos.com/",)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: check_schemas.py REPO_ROOT")
    root = Path(sys.argv[1]).resolve()
    failures = []
    for relative in (BASE, OVERLAY):
        try:
            objects = render(root / relative)
        except RenderError as e:
            failures.append(f"{relative}: {e}")
            continue
        checked = 0
        for obj in objects:
            name = f"{relative}: {obj.get('kind')} {obj.get('metadata', {}).get('name')}"
            if obj.get("apiVersion", "").startswith(CUSTOM_RESOURCE_GROUPS):
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
    finish(failures, "every built-in object validates against the Kubernetes schemas")


if __name__ == "__main__":
    main()
