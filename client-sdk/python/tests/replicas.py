"""fetchpoold processes that a test starts itself (to restart them, or to
listen on 127.0.0.2 and 127.0.0.3 as replicas of one target). The binary is
FETCHPOOL_FETCHPOOLD, which tests/client-sdk/python/test.sh exports."""
import os
import re
import signal
import subprocess
import tempfile
import threading
import time

import pytest


class Fetchpoold:
    def __init__(self, binary: str, host: str = "127.0.0.1", *flags: str):
        self.binary, self.host, self.flags = binary, host, flags
        self.port = 0
        self.log = tempfile.NamedTemporaryFile(prefix="fetchpoold-", suffix=".err", delete=False)
        self.process = None
        self.start()

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> None:
        offset = os.path.getsize(self.log.name)
        self.process = subprocess.Popen(
            [self.binary, f"--listen={self.host}:{self.port}", "--metrics_listen=127.0.0.1:0", "--drain_delay=0s",
             "--allow_cidrs=127.0.0.0/8,::1/128", *self.flags],
            stdout=subprocess.DEVNULL, stderr=self.log)
        give_up = time.monotonic() + 20
        while time.monotonic() < give_up:
            with open(self.log.name) as log:
                log.seek(offset)
                found = re.search(r'"event":"start".*?"port":"(\d+)"', log.read())
            if found:
                self.port = int(found.group(1))
                return
            if self.process.poll() is not None:
                raise RuntimeError(f"fetchpoold on {self.host} exited: see {self.log.name}")
            time.sleep(0.05)
        raise RuntimeError(f"fetchpoold on {self.host} did not start")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def restart_in_background(self, delay: float = 0.2) -> threading.Timer:
        """SIGKILL now; the same fetchpoold on the same port `delay` later.
        Join the returned timer to wait until it listens again."""
        self.kill()
        restart = threading.Timer(delay, self.start)
        restart.start()
        return restart

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        os.unlink(self.log.name)


def fetchpoold_binary() -> str:
    binary = os.environ.get("FETCHPOOL_FETCHPOOLD")
    if not binary or not os.access(binary, os.X_OK):
        pytest.skip("FETCHPOOL_FETCHPOOLD is not set: run tests/client-sdk/python/test.sh")
    return binary


class Origin:
    """One more test origin (FETCHPOOL_ORIGIN_SERVER), on 127.0.0.1."""

    def __init__(self):
        binary = os.environ.get("FETCHPOOL_ORIGIN_SERVER")
        if not binary or not os.access(binary, os.X_OK):
            pytest.skip("FETCHPOOL_ORIGIN_SERVER is not set: run tests/client-sdk/python/test.sh")
        self.process = subprocess.Popen([binary, "--port=0"], stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, text=True)
        line = self.process.stdout.readline()
        found = re.search(r"listening on (127\.0\.0\.1:\d+)", line)
        if not found:
            self.stop()
            raise RuntimeError(f"test origin did not start: {line!r}")
        self.url = f"http://{found.group(1)}"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(5)
