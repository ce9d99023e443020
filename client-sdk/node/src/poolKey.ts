// The pool key of a URL, computed as fetchpoold computes it (engine/url.cc):
// scheme://host:port with the port always written. WHATWG URL already
// lower-cases, drops default ports, reads every numeric IPv4 form and
// compresses IPv6; two things differ from the server (which parses with
// libcurl and prints IPv6 with glibc's inet_ntop) and are fixed up here:
// a zone id (URL rejects "%25eth0"), and IPv4-mapped IPv6, which inet_ntop
// writes as ::ffff:127.0.0.1 where URL writes ::ffff:7f00:1.

// scheme://[userinfo@][address%25zone]... : the zone is cut out before URL
// parses the rest and put back after.
const ZONE_ID = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#[]*\[)([^\]%]*)%25([^\]]+)(\].*)$/s;

const DEFAULT_PORTS: Record<string, string> = { http: '80', https: '443' };

/** The pool key of `url`, or undefined when fetchpoold could not parse it either. */
export function poolKey(url: string): string | undefined {
  let text = url;
  let zone = '';
  const zoned = ZONE_ID.exec(url);
  if (zoned) {
    text = zoned[1] + zoned[2] + zoned[4];
    zone = zoned[3].toLowerCase();
  }
  let parsed: URL;
  try {
    parsed = new URL(text);
  } catch {
    return undefined;
  }
  const scheme = parsed.protocol.replace(/:$/, '');
  const defaultPort = DEFAULT_PORTS[scheme];
  if (defaultPort === undefined || parsed.hostname === '') return undefined;
  let host = parsed.hostname;
  if (host.startsWith('[')) {
    host = `[${formatIpv6(host.slice(1, -1))}${zone ? `%25${zone}` : ''}]`;
  } else if (zone) {
    return undefined;
  }
  return `${scheme}://${host}:${parsed.port || defaultPort}`;
}

/** The eight 16-bit words of an IPv6 address in hex (URL's serialization: no dotted part). */
function ipv6Words(text: string): number[] {
  const [head, tail] = text.split('::');
  const parse = (part: string | undefined) => (part ? part.split(':').map((word) => parseInt(word, 16)) : []);
  const first = parse(head);
  if (tail === undefined) return first;
  const last = parse(tail);
  return [...first, ...new Array<number>(8 - first.length - last.length).fill(0), ...last];
}

/** RFC 5952 text exactly as glibc's inet_ntop writes it, dotted tail included. */
export function formatIpv6(text: string): string {
  const words = ipv6Words(text);
  // The longest run of zero words (the first of equal runs), if at least 2 long.
  let bestBase = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let end = i;
    while (end < 8 && words[end] === 0) end++;
    if (end - i > bestLength) {
      bestBase = i;
      bestLength = end - i;
    }
    i = end;
  }
  if (bestLength < 2) bestBase = -1;
  const embedsIpv4 = bestBase === 0 && (bestLength === 6 || (bestLength === 5 && words[5] === 0xffff));
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (bestBase >= 0 && i >= bestBase && i < bestBase + bestLength) {
      if (i === bestBase) out += ':';
      continue;
    }
    if (i !== 0) out += ':';
    if (embedsIpv4 && i === 6) {
      out += [words[6] >> 8, words[6] & 0xff, words[7] >> 8, words[7] & 0xff].join('.');
      return out;
    }
    out += words[i].toString(16);
  }
  if (bestBase >= 0 && bestBase + bestLength === 8) out += ':';
  return out;
}
