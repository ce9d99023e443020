"""Renders a kustomization the way an operator would, for tests/deploy.

`kustomize build DIR` where kustomize is installed (./dev.sh deps builds it
only where apt has no recent kubectl), else `kubectl kustomize DIR`. Neither
is a failure, never a skip: the manifests are what gets deployed, so CI must
check them.
"""
import shutil
import subprocess
import sys

import yaml

# The two renderings that tests/deploy checks, relative to the repository.
BASE = "deploy/k8s"
OVERLAY = "deploy/k8s/overlays/example"


class RenderError(Exception):
    pass


def render_command(directory):
    if shutil.which("kustomize"):
        return ["kustomize", "build", str(directory)]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize", str(directory)]
    raise RenderError("neither kubectl nor kustomize is installed: run ./dev.sh deps")


def render(directory):
    """The objects of `directory`'s kustomization, as dicts."""
    command = render_command(directory)
    run = subprocess.run(command, capture_output=True, text=True, check=False)
    if run.returncode != 0:
        raise RenderError(f"{' '.join(command)} failed:\n{run.stderr}")
    return [doc for doc in yaml.safe_load_all(run.stdout) if doc]


def finish(errors, ok_message):
    """Prints each error as a FAIL line and exits 1, or prints ok_message."""
    for error in errors:
        print(f"FAIL: {error}")
    if errors:
        sys.exit(1)
    print(f"ok: {ok_message}")
