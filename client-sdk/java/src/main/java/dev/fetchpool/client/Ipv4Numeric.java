package dev.fetchpool.client;

/**
 * IPv4 hosts in the numeric forms libcurl accepts (and so fetchpoold): one to four parts,
 * each decimal, octal (leading 0) or hex (0x), the last part filling the remaining bytes:
 * {@code 127.1}, {@code 2130706433}, {@code 0x7f.1}, {@code 0177.0.0.1}.
 */
final class Ipv4Numeric {
  private Ipv4Numeric() {}

  /** The dotted quad, or null when the host is not a numeric IPv4 address. */
  static String dottedQuad(String host) {
    String[] parts = host.split("\\.", -1);
    if (parts.length > 4) return null;
    long[] values = new long[parts.length];
    for (int i = 0; i < parts.length; i++) {
      Long value = part(parts[i]);
      if (value == null) return null;
      values[i] = value;
    }
    long address = 0;
    int last = parts.length - 1;
    for (int i = 0; i < last; i++) {
      if (values[i] > 0xff) return null;
      address |= values[i] << (8 * (3 - i));
    }
    long lastMax = (1L << (8 * (4 - last))) - 1;
    if (values[last] > lastMax) return null;
    address |= values[last];
    return ((address >> 24) & 0xff) + "." + ((address >> 16) & 0xff) + "."
        + ((address >> 8) & 0xff) + "." + (address & 0xff);
  }

  private static Long part(String text) {
    int radix = 10;
    String digits = text;
    if (text.length() > 1 && (text.startsWith("0x") || text.startsWith("0X"))) {
      radix = 16;
      digits = text.substring(2);
    } else if (text.length() > 1 && text.startsWith("0")) {
      radix = 8;
      digits = text.substring(1);
    }
    if (digits.isEmpty() || digits.length() > 10) return null;
    for (int i = 0; i < digits.length(); i++) {
      if (Character.digit(digits.charAt(i), radix) < 0) return null;
    }
    long value = Long.parseLong(digits, radix);
    return value > 0xffffffffL ? null : value;
  }
}
