package fetchpool

import (
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// PoolKeyHeader is the call metadata that carries a fetch's pool key, for
// whatever routes the call (this client's ring_hash balancer, a mesh).
const PoolKeyHeader = "fetchpool-pool-key"

// PoolKey is the pool key fetchpoold computes for rawURL
// (scheme://host:port, client-sdk/README.md "Pool key"), and false when the
// URL cannot be parsed the way fetchpoold would accept it.
func PoolKey(rawURL string) (string, bool) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Opaque != "" || u.User != nil {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	defaultPort := map[string]string{"http": "80", "https": "443"}[scheme]
	if defaultPort == "" {
		return "", false
	}
	host, ok := poolKeyHost(u.Host, u.Hostname())
	if !ok {
		return "", false
	}
	port, ok := poolKeyPort(u.Port(), defaultPort)
	if !ok {
		return "", false
	}
	return scheme + "://" + host + ":" + port, true
}

// poolKeyHost: an IPv6 literal canonical (RFC 5952) in brackets with its
// zone as %25zone, an IPv4 address in any numeric form as a dotted quad,
// else the name lower-cased.
func poolKeyHost(hostPort, hostname string) (string, bool) {
	if hostname == "" {
		return "", false
	}
	if strings.HasPrefix(hostPort, "[") {
		addr, err := netip.ParseAddr(hostname) // net/url has unescaped %25 to %
		if err != nil || !addr.Is6() {
			return "", false
		}
		zone := addr.Zone()
		canonical := addr.WithZone("").String()
		if zone != "" {
			canonical += "%25" + zone
		}
		return "[" + strings.ToLower(canonical) + "]", true
	}
	if quad, ok := numericIPv4(hostname); ok {
		return quad, true
	}
	for _, c := range hostname {
		if !isHostNameChar(c) {
			return "", false
		}
	}
	return strings.ToLower(hostname), true
}

func isHostNameChar(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '.' || c == '_'
}

// numericIPv4 reads an IPv4 address the way inet_aton (and libcurl, which
// fetchpoold parses URLs with) does: one to four parts, each decimal, octal
// with a leading 0, or hex with 0x; the last part fills the remaining bytes
// (127.1 is 127.0.0.1, 2130706433 is 127.0.0.1).
func numericIPv4(host string) (string, bool) {
	parts := strings.Split(host, ".")
	if len(parts) > 4 {
		return "", false
	}
	var value uint64
	for i, part := range parts {
		n, ok := parseIPv4Part(part)
		if !ok {
			return "", false
		}
		if i < len(parts)-1 {
			if n > 255 {
				return "", false
			}
			value |= n << (8 * (3 - i))
			continue
		}
		if n >= 1<<(8*(4-i)) {
			return "", false
		}
		value |= n
	}
	addr := netip.AddrFrom4([4]byte{byte(value >> 24), byte(value >> 16), byte(value >> 8), byte(value)})
	return addr.String(), true
}

func parseIPv4Part(part string) (uint64, bool) {
	base, digits := 10, part
	switch {
	case len(part) > 2 && (part[:2] == "0x" || part[:2] == "0X"):
		base, digits = 16, part[2:]
	case len(part) > 1 && part[0] == '0':
		base, digits = 8, part[1:]
	}
	if digits == "" || digits[0] == '+' || digits[0] == '-' {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, base, 32)
	return n, err == nil
}

// poolKeyPort: the port as a number without leading zeros, the scheme's
// default when the URL has none; 0 or more than 65535 cannot be connected to.
func poolKeyPort(port, defaultPort string) (string, bool) {
	if port == "" {
		return defaultPort, true
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return "", false
	}
	return strconv.FormatUint(n, 10), true
}
