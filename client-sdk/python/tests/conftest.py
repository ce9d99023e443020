"""Shared fixtures: the vectors' directory, and the live servers that
tests/client-sdk/python/test.sh started (FETCHPOOL_TARGET, FETCHPOOL_ORIGIN)."""
import os
import pathlib

import pytest

TESTDATA = pathlib.Path(os.environ.get("FETCHPOOL_SOURCE_DIR", pathlib.Path(__file__).parents[3])) \
    / "client-sdk" / "testdata"


def read_vectors(name):
    """The TAB-separated lines of testdata/NAME, without # comments."""
    rows = []
    for line in (TESTDATA / name).read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        rows.append(line.split("\t"))
    return rows


@pytest.fixture(scope="session")
def live():
    target = os.environ.get("FETCHPOOL_TARGET")
    origin = os.environ.get("FETCHPOOL_ORIGIN")
    if not target or not origin:
        pytest.skip("no live fetchpoold: run tests/client-sdk/python/test.sh (sets FETCHPOOL_TARGET, FETCHPOOL_ORIGIN)")
    return target, origin
