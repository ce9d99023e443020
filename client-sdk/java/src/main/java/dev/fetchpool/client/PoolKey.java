package dev.fetchpool.client;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.Locale;

/**
 * The pool key of a URL ({@code scheme://host:port}), computed as fetchpoold does
 * (client-sdk/README.md, "Pool key"; vectors in client-sdk/testdata/pool_keys.tsv).
 *
 * <p>Hand-parsed rather than through java.net.URI: URI refuses hosts such as
 * {@code a_b.example} that fetchpoold (libcurl) accepts, and knows neither the numeric IPv4
 * forms ({@code 127.1}, {@code 0x7f.1}) nor RFC 5952 output.
 */
public final class PoolKey {
  private PoolKey() {}

  /** The pool key, or null when fetchpoold would refuse the URL (it then answers INVALID_URL). */
  public static String of(String url) {
    if (url == null) return null;
    for (int i = 0; i < url.length(); i++) {
      char c = url.charAt(i);
      if (c <= 0x20 || c >= 0x7f) return null;
    }
    int schemeEnd = url.indexOf("://");
    if (schemeEnd <= 0) return null;
    String scheme = url.substring(0, schemeEnd).toLowerCase(Locale.ROOT);
    int defaultPort;
    if (scheme.equals("http")) {
      defaultPort = 80;
    } else if (scheme.equals("https")) {
      defaultPort = 443;
    } else {
      return null;
    }
    int authorityStart = schemeEnd + 3;
    int authorityEnd = authorityStart;
    while (authorityEnd < url.length() && "/?#".indexOf(url.charAt(authorityEnd)) < 0) {
      authorityEnd++;
    }
    String authority = url.substring(authorityStart, authorityEnd);
    if (authority.indexOf('@') >= 0) return null; // user info: refused by fetchpoold
    String host;
    String portText;
    if (authority.startsWith("[")) {
      int close = authority.indexOf(']');
      if (close < 0) return null;
      host = ipv6Host(authority.substring(1, close));
      String rest = authority.substring(close + 1);
      if (!rest.isEmpty() && !rest.startsWith(":")) return null;
      portText = rest.isEmpty() ? "" : rest.substring(1);
    } else {
      int colon = authority.lastIndexOf(':');
      String name = colon < 0 ? authority : authority.substring(0, colon);
      portText = colon < 0 ? "" : authority.substring(colon + 1);
      host = nameHost(name);
    }
    if (host == null) return null;
    Integer port = port(portText, defaultPort);
    if (port == null) return null;
    return scheme + "://" + host + ":" + port;
  }

  private static Integer port(String text, int defaultPort) {
    if (text.isEmpty()) return defaultPort;
    if (text.length() > 8) text = text.replaceFirst("^0+(?=.)", "");
    for (int i = 0; i < text.length(); i++) {
      if (!Character.isDigit(text.charAt(i))) return null;
    }
    if (text.length() > 5) return null;
    int port = Integer.parseInt(text);
    return port >= 1 && port <= 65535 ? port : null;
  }

  private static String nameHost(String name) {
    if (name.isEmpty()) return null;
    for (int i = 0; i < name.length(); i++) {
      char c = name.charAt(i);
      boolean ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
          || c == '-' || c == '.' || c == '_';
      if (!ok) return null;
    }
    String quad = Ipv4Numeric.dottedQuad(name);
    return quad != null ? quad : name.toLowerCase(Locale.ROOT);
  }

  /** The bracketed host: canonical RFC 5952 text as inet_ntop writes it, zone as %25zone. */
  private static String ipv6Host(String inner) {
    String zone = "";
    int percent = inner.indexOf('%');
    if (percent >= 0) {
      zone = inner.substring(percent + 1);
      if (zone.startsWith("25")) zone = zone.substring(2);
      inner = inner.substring(0, percent);
      if (zone.isEmpty()) return null;
    }
    if (inner.indexOf(':') < 0) return null;
    byte[] bytes;
    try {
      // A literal containing ':' is parsed, never looked up in DNS.
      bytes = InetAddress.getByName("[" + inner + "]").getAddress();
    } catch (UnknownHostException | IllegalArgumentException e) {
      return null;
    }
    if (bytes.length == 4) { // Java turns ::ffff:a.b.c.d into an IPv4 address
      byte[] mapped = new byte[16];
      mapped[10] = (byte) 0xff;
      mapped[11] = (byte) 0xff;
      System.arraycopy(bytes, 0, mapped, 12, 4);
      bytes = mapped;
    }
    String text = Ipv6Text.format(bytes);
    return "[" + (zone.isEmpty() ? text : text + "%25" + zone).toLowerCase(Locale.ROOT) + "]";
  }
}
