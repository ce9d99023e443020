"""fetchpool-ring-v1: the consistent-hash ring of client-sdk/README.md.

Every SDK that keeps its own ring builds exactly this one (the vectors in
client-sdk/testdata/ring.tsv), so all of them send one origin to one replica.
"""
import bisect
import hashlib
from typing import AbstractSet, Iterable, List, Optional, Tuple

POINTS_PER_MEMBER = 256


def ring_point(text: str) -> int:
    """The first 8 bytes of SHA-256(text), as a big-endian unsigned number."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


class Ring:
    """Members are `ip:port` (`[ip]:port` for IPv6); pick(key) is the member
    of the first point at or after the key's point, wrapping around; of
    equal points the member that sorts first wins."""

    def __init__(self, members: Iterable[str]):
        self.members = sorted(set(members))
        points: List[Tuple[int, str]] = [
            (ring_point(f"{member}#{i}"), member)
            for member in self.members
            for i in range(POINTS_PER_MEMBER)
        ]
        points.sort()  # by point, then by member name
        self._points = [point for point, _ in points]
        self._owners = [member for _, member in points]

    def pick(self, key: str, avoid: AbstractSet[str] = frozenset()) -> Optional[str]:
        """The key's member; with `avoid` (replicas known to be down), the
        next member on the ring that is not avoided, as gRPC's ring_hash
        does for a subchannel in failure (all avoided: the plain pick)."""
        if not self._points:
            return None
        index = bisect.bisect_left(self._points, ring_point(key))
        owner = self._owners[index % len(self._owners)]
        if owner not in avoid:
            return owner
        for step in range(1, len(self._owners)):
            candidate = self._owners[(index + step) % len(self._owners)]
            if candidate not in avoid:
                return candidate
        return owner
