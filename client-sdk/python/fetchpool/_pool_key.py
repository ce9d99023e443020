"""The pool key of a URL (scheme://host:port), computed exactly as fetchpoold does.

fetchpoold parses URLs with libcurl (engine/url.cc) and prints IPv6 hosts
with glibc's inet_ntop; this module reproduces both, so the key the SDK
sends as `fetchpool-pool-key` equals FetchResponse.pool. The vectors in
client-sdk/testdata/pool_keys.tsv hold it to the server.
"""
import ipaddress
import re
from typing import Optional

_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
_PORT = re.compile(r"^[0-9]*$")


def pool_key(url: str) -> Optional[str]:
    """The pool key of `url`, or None when fetchpoold would refuse the URL."""
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in _DEFAULT_PORTS:
        return None
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if "@" in authority:
        return None  # user info: fetchpoold refuses it (INVALID_URL)
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            return None
        host = _ipv6_host(authority[1:end])
        port_part = authority[end + 1:]
        if port_part and not port_part.startswith(":"):
            return None
        port_text = port_part[1:]
    else:
        name, _, port_text = authority.partition(":")
        host = _name_host(name)
    port = _port(port_text, _DEFAULT_PORTS[scheme])
    if host is None or port is None:
        return None
    return f"{scheme}://{host}:{port}"


def _port(text: str, default: int) -> Optional[int]:
    if not _PORT.match(text):
        return None
    if text == "":
        return default
    port = int(text)
    return port if 0 < port <= 65535 else None


def _name_host(name: str) -> Optional[str]:
    if not name or not _HOST_NAME.match(name):
        return None
    ipv4 = _numeric_ipv4(name)
    return ipv4 if ipv4 is not None else name.lower()


def _numeric_ipv4(name: str) -> Optional[str]:
    """curl's ipv4_normalize: 1 to 4 parts, each decimal, 0-octal or 0x-hex;
    the last part fills the remaining bytes (127.1, 2130706433, 0x7f.1)."""
    parts = name.split(".")
    if len(parts) > 4:
        return None
    values = []
    for part in parts:
        value = _c_number(part)
        if value is None:
            return None
        values.append(value)
    last_bits = 8 * (5 - len(values))
    if any(v > 0xFF for v in values[:-1]) or values[-1] >= (1 << last_bits):
        return None
    number = values[-1]
    for i, value in enumerate(values[:-1]):
        number |= value << (24 - 8 * i)
    return str(ipaddress.IPv4Address(number))


def _c_number(text: str) -> Optional[int]:
    """strtoul(text, base 0) that must consume the whole text."""
    if not text or not text[0].isdigit():
        return None
    try:
        if text[:2].lower() == "0x":
            return int(text[2:], 16) if text[2:] else None
        if text.startswith("0") and len(text) > 1:
            return int(text[1:], 8)
        return int(text, 10)
    except ValueError:
        return None


def _ipv6_host(inner: str) -> Optional[str]:
    address, pct, zone = inner.partition("%")
    if pct and zone.startswith("25"):
        zone = zone[2:]
    if pct and not zone:
        return None
    try:
        parsed = ipaddress.IPv6Address(address)
    except ValueError:
        return None
    text = _inet_ntop6(parsed)
    if zone:
        text += "%25" + zone
    return "[" + text.lower() + "]"


def _inet_ntop6(address: ipaddress.IPv6Address) -> str:
    """glibc's inet_ntop(AF_INET6): RFC 5952, except that an address whose
    first 96 bits are zero (but not ::/::1 style runs of 7) or an
    IPv4-mapped one keeps its last 32 bits as a dotted quad."""
    packed = address.packed
    words = [int.from_bytes(packed[i:i + 2], "big") for i in range(0, 16, 2)]
    best_base, best_len, base, length = -1, 0, -1, 0
    for i, word in enumerate(words + [1]):
        if word == 0 and i < 8:
            if base < 0:
                base, length = i, 0
            length += 1
        elif base >= 0:
            if length > best_len:
                best_base, best_len = base, length
            base = -1
    if best_base == 0 and (best_len == 6 or (best_len == 5 and words[5] == 0xFFFF)):
        prefix = "::ffff:" if best_len == 5 else "::"
        return prefix + str(ipaddress.IPv4Address(packed[12:]))
    return address.compressed
