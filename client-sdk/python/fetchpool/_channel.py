"""Client options, credentials, and the router that picks a channel per call.

Without affinity there is one channel with the round_robin policy. With
affinity="host" there is one channel per resolved address of the target and
a fetchpool-ring-v1 ring over them; the name is resolved again every 30 s
and after a call fails UNAVAILABLE with no reason. (grpcio's ring_hash with
requestHashHeader works only behind an experimental environment variable
and hashes differently from the other SDKs' ring; see README.md.)
"""
import ipaddress
import itertools
import json
import pathlib
import re
import socket
import threading
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

import grpc

from ._errors import FetchpoolError
from ._ring import Ring

POOL_KEY_HEADER = "fetchpool-pool-key"
ROUND_ROBIN_CONFIG = json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})
RESOLVE_EVERY_SECONDS = 30.0
# A replica whose call broke (UNAVAILABLE, no reason) is passed over for this
# long: its keys go to the next member on the ring meanwhile.
DOWN_SECONDS = 5.0
DEFAULT_TIMEOUT_SECONDS = 30.0


@dataclass
class Settings:
    target: str
    default_timeout: float = DEFAULT_TIMEOUT_SECONDS
    ca_file: Optional[str] = None
    client_cert_file: Optional[str] = None
    client_key_file: Optional[str] = None
    token: Optional[str] = None
    allow_token_over_plaintext: bool = False
    server_name_override: Optional[str] = None
    affinity: Optional[str] = None

    def __post_init__(self):
        if self.affinity not in (None, "host"):
            raise ValueError(f'affinity must be None or "host", not {self.affinity!r}')
        if bool(self.client_cert_file) != bool(self.client_key_file):
            raise ValueError("client_cert_file and client_key_file go together (mTLS)")
        if self.token and not self.uses_tls and not self.allow_token_over_plaintext:
            raise ValueError("a token over plaintext would travel in clear: give ca_file (TLS), "
                             "or set allow_token_over_plaintext=True for tests and sidecars")
        if self.default_timeout is None or self.default_timeout <= 0:
            raise ValueError("default_timeout must be a positive number of seconds")

    @property
    def uses_tls(self) -> bool:
        return bool(self.ca_file or self.client_cert_file)

    def credentials(self) -> Optional[grpc.ChannelCredentials]:
        if not self.uses_tls:
            return None
        def read(path):
            return pathlib.Path(path).read_bytes() if path else None

        return grpc.ssl_channel_credentials(root_certificates=read(self.ca_file),
                                            private_key=read(self.client_key_file),
                                            certificate_chain=read(self.client_cert_file))

    def call_metadata(self) -> List[Tuple[str, str]]:
        return [("authorization", f"Bearer {self.token}")] if self.token else []

    def channel_options(self, tls_name: Optional[str] = None) -> List[Tuple[str, str]]:
        options = [("grpc.service_config", ROUND_ROBIN_CONFIG)]
        name = self.server_name_override or tls_name
        if self.uses_tls and name:
            options.append(("grpc.ssl_target_name_override", name))
        return options


def parse_target(target: str) -> Optional[Tuple[Optional[str], int, List[str]]]:
    """For affinity: (host to resolve, port, fixed members). `ipv4:`/`ipv6:`
    targets list their members; `host:port` and `dns:` ones give a name.
    None for targets with no addresses to hash over (unix:)."""
    for scheme in ("ipv4:", "ipv6:"):
        if target.startswith(scheme):
            members = [member_name(*split_host_port(a, 443)) for a in target[len(scheme):].split(",") if a]
            return None, 0, members
    if target.startswith("dns:"):
        target = target[4:]
        if target.startswith("//"):  # dns://authority/host:port
            target = target[2:].partition("/")[2]
    elif re.match(r"^[a-z][a-z0-9+.-]*:(?![0-9])", target):
        return None  # unix:, vsock:, xds:, ...: nothing this SDK can resolve
    host, port = split_host_port(target, 443)
    return host, port, []


def split_host_port(text: str, default_port: int) -> Tuple[str, int]:
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    host, _, port = text.rpartition(":")
    if not host:
        return port, default_port
    return host, int(port)


def member_name(ip: str, port: int) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def member_target(member: str) -> str:
    return ("ipv6:" if member.startswith("[") else "ipv4:") + member


def resolve_members(host: str, port: int) -> List[str]:
    try:
        return [member_name(str(ipaddress.ip_address(host)), port)]
    except ValueError:
        pass
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({member_name(info[4][0], port) for info in infos})


class Router:
    """Picks the channel for a call: the one channel, or with affinity the
    channel of the replica that the pool key hashes to."""

    def __init__(self, settings: Settings, open_channel: Callable[[str, list], object],
                 resolve: Callable[[str, int], List[str]] = resolve_members,
                 clock: Callable[[], float] = time.monotonic):
        self._settings = settings
        self._open_channel = open_channel
        self._resolve = resolve
        self._clock = clock
        self._lock = threading.Lock()
        self._channels: Dict[Optional[str], object] = {}  # member (None: the one channel)
        self._ring = Ring([])
        self._host: Optional[str] = None
        self._resolving = False
        self._down: Dict[str, float] = {}  # member -> passed over until (clock)
        self._resolved_at = float("-inf")
        self._spread = itertools.count()
        parsed = parse_target(settings.target) if settings.affinity == "host" else None
        # Without affinity: one channel, opened on first use (an asyncio
        # channel must be opened inside the running loop).
        self._affinity = parsed is not None
        if not self._affinity:
            return
        self._host, self._port, fixed = parsed
        if fixed:
            self._ring = Ring(fixed)
            self._resolved_at = float("inf")  # nothing to resolve again
        else:
            self._refresh()

    @property
    def members(self) -> List[str]:
        return list(self._ring.members)

    def channel_for(self, key: Optional[str]):
        """The channel for a call whose pool key is `key` (None: any replica)."""
        return self.member_channel(self.member_for(key))

    def member_for(self, key: Optional[str]) -> Optional[str]:
        if not self._affinity:
            return None
        if self._clock() - self._resolved_at > RESOLVE_EVERY_SECONDS:
            self.resolve_soon()
        ring = self._ring
        if not ring.members:
            raise FetchpoolError(grpc.StatusCode.UNAVAILABLE, "",
                                 f"no address for {self._settings.target} (resolving again)")
        now = self._clock()
        down = {member for member, until in list(self._down.items()) if until > now}
        if key is None:
            alive = [m for m in ring.members if m not in down] or ring.members
            return alive[next(self._spread) % len(alive)]
        return ring.pick(key, down)

    def every_member(self) -> List[Optional[str]]:
        """What stats() asks: every replica with affinity, else the channel."""
        return list(self._ring.members) or [None] if self._affinity else [None]

    def member_channel(self, member: Optional[str]):
        with self._lock:
            channel = self._channels.get(member)
            if channel is None:
                if member is None:
                    channel = self._open_channel(self._settings.target, self._settings.channel_options())
                else:
                    options = self._settings.channel_options(tls_name=self._host)
                    channel = self._open_channel(member_target(member), options)
                self._channels[member] = channel
            return channel

    def on_unavailable(self, member: Optional[str] = None) -> None:
        """A call to `member` failed UNAVAILABLE with no reason: the replica
        may be gone. Pass it over for a while, and resolve the name again."""
        if not self._affinity:
            return
        if member is not None:
            self._down[member] = self._clock() + DOWN_SECONDS
        if self._resolved_at != float("inf"):
            self.resolve_soon()

    def resolve_soon(self) -> None:
        with self._lock:
            if self._resolving:
                return
            self._resolving = True
        threading.Thread(target=self._refresh, name="fetchpool-resolve", daemon=True).start()

    def _refresh(self) -> None:
        try:
            members = self._resolve(self._host, self._port)
        except OSError:
            members = []
        with self._lock:
            self._resolving = False
            self._resolved_at = self._clock()
            if members:  # a failed lookup keeps the replicas we know
                self._ring = Ring(members)

    def all_channels(self) -> list:
        with self._lock:
            channels = list(self._channels.values())
            self._channels.clear()
        return channels
