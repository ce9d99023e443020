"""The interop scenario (tests/client-sdk/interop/README.md) through the
Python SDK's public API only; urllib reads the origin's /hits."""
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import fetchpool

ENV = os.environ
SDK = ENV.get("FETCHPOOL_SDK", "python")
TARGET = ENV["FETCHPOOL_TARGET"]
ORIGIN = ENV["FETCHPOOL_ORIGIN"]


def emit(step, code="OK", reason="", status=0, **fields):
    line = {"sdk": SDK, "step": step, "code": code, "reason": reason, "status": status, **fields}
    with open(ENV["FETCHPOOL_OUT"], "a") as out:
        out.write(json.dumps(line) + "\n")


def outcome(call):
    """(code, reason, status, response) of one call."""
    try:
        response = call()
        return "OK", "", response.status, response
    except fetchpool.FetchpoolError as error:
        return error.code.name, error.reason, 0, None


def step(name):
    """Runs a step; a step that raises still writes its line."""
    def wrap(body):
        try:
            body()
        except Exception as error:  # noqa: BLE001: the checker judges the line
            emit(name, code="UNKNOWN", reason="", status=0, error=f"{type(error).__name__}: {error}")
        return body
    return wrap


def hits(key):
    with urllib.request.urlopen(f"{ORIGIN}/hits?key={key}", timeout=5) as response:
        return int(response.read().decode().strip() or 0)


def restart():
    subprocess.run([ENV["FETCHPOOL_RESTART"]], check=True)


def main():
    client = fetchpool.Client(TARGET)

    @step("get")
    def _():
        url = ORIGIN + "/status/200"
        code, reason, status, response = outcome(lambda: client.get(url))
        emit("get", code, reason, status, pool_key_match=bool(response) and fetchpool.pool_key(url) == response.pool)

    @step("post")
    def _():
        code, reason, status, response = outcome(
            lambda: client.fetch(method="POST", url=ORIGIN + "/echo", body="interop"))
        emit("post", code, reason, status, body=response.body.decode() if response else "")

    @step("not_found")
    def _():
        emit("not_found", *outcome(lambda: client.get(ORIGIN + "/status/404"))[:3])

    @step("wait_timeout")
    def _():
        slow = ENV["FETCHPOOL_SLOW_ORIGIN"]
        with ThreadPoolExecutor(1) as background:
            first = background.submit(outcome, lambda: client.get(slow + "/sleep?ms=1500"))
            time.sleep(0.3)
            code, reason, status, _ = outcome(lambda: client.get(slow + "/status/200", wait_timeout=0.2))
            emit("wait_timeout", code, reason, status, first_status=first.result()[2])

    @step("denied")
    def _():
        emit("denied", *outcome(lambda: client.get(ENV["FETCHPOOL_DENIED_URL"]))[:3])

    @step("pool_keys")
    def _():
        urls = ENV.get("FETCHPOOL_KEY_URLS", "").split()
        mismatches = []
        for url in urls:
            key = fetchpool.pool_key(url)
            code, reason, _, response = outcome(lambda: client.get(url))
            pool = response.pool if response else f"{code}/{reason}"
            if key != pool:
                mismatches.append(f"{url} {key} {pool}")
        emit("pool_keys", "OK", "", 0, checked=len(urls), mismatches=mismatches)

    @step("stream")
    def _():
        with client.open_stream() as stream:
            futures = [stream.submit(method="POST", url=ORIGIN + "/echo", body=f"n{i}") for i in range(100)]
            ok = matched = 0
            for i, future in enumerate(futures):
                try:
                    response = future.result()
                except fetchpool.FetchpoolError:
                    continue
                ok += response.status == 200
                matched += response.body == f"n{i}".encode()
        emit("stream", "OK", "", 200, ok=ok, matched=matched)

    @step("stats")
    def _():
        stats = client.stats()
        key = fetchpool.pool_key(ORIGIN)
        emit("stats", "OK", "", 0, pool_found=any(pool.host == key for pool in stats.pools))

    ca = ENV.get("FETCHPOOL_CA_FILE")

    @step("tls_token")
    def _():
        with fetchpool.Client(ENV["FETCHPOOL_TLS_TARGET"], ca_file=ca, token=ENV["FETCHPOOL_TOKEN"]) as tls:
            emit("tls_token", *outcome(lambda: tls.get(ORIGIN + "/status/200"))[:3])

    @step("tls_bad_token")
    def _():
        with fetchpool.Client(ENV["FETCHPOOL_TLS_TARGET"], ca_file=ca, token="wrong-token") as tls:
            emit("tls_bad_token", *outcome(lambda: tls.get(ORIGIN + "/status/200"))[:3])

    @step("mtls")
    def _():
        with fetchpool.Client(ENV["FETCHPOOL_MTLS_TARGET"], ca_file=ca, client_cert_file=ENV["FETCHPOOL_CLIENT_CERT"],
                              client_key_file=ENV["FETCHPOOL_CLIENT_KEY"]) as mtls:
            emit("mtls", *outcome(lambda: mtls.get(ORIGIN + "/status/200"))[:3])

    @step("restart_get")
    def _():
        restart()
        emit("restart_get", *outcome(lambda: client.get(ORIGIN + "/status/200"))[:3])

    @step("post_not_replayed")
    def _():
        key = f"{SDK}-{uuid.uuid4().hex[:12]}"
        result = {}
        post = threading.Thread(target=lambda: result.update(outcome=outcome(lambda: client.fetch(
            method="POST", url=f"{ORIGIN}/count?key={key}&ms=3000", body="once"))))
        post.start()
        give_up = time.monotonic() + 5
        while hits(key) < 1 and time.monotonic() < give_up:
            time.sleep(0.05)
        restart()
        post.join()
        code, reason, status, _ = result["outcome"]
        give_up = time.monotonic() + 10
        while time.monotonic() < give_up and outcome(lambda: client.get(ORIGIN + "/status/200", timeout=2))[0] != "OK":
            time.sleep(0.1)
        emit("post_not_replayed", code, reason, status, origin_hits=hits(key))

    client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
