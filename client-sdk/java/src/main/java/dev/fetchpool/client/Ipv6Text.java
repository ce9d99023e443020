package dev.fetchpool.client;

/**
 * IPv6 text as glibc's inet_ntop writes it (what fetchpoold puts in a pool key): RFC 5952
 * (lower-case hex, the longest run of two or more zero groups as "::", the first of equal
 * runs), with the IPv4 tail glibc writes for ::ffff:a.b.c.d and ::a.b.c.d.
 */
final class Ipv6Text {
  private Ipv6Text() {}

  static String format(byte[] bytes) {
    int[] words = new int[8];
    for (int i = 0; i < 8; i++) {
      words[i] = ((bytes[2 * i] & 0xff) << 8) | (bytes[2 * i + 1] & 0xff);
    }
    int bestBase = -1;
    int bestLen = 0;
    for (int i = 0; i < 8; ) {
      if (words[i] != 0) {
        i++;
        continue;
      }
      int start = i;
      while (i < 8 && words[i] == 0) i++;
      if (i - start > bestLen) {
        bestBase = start;
        bestLen = i - start;
      }
    }
    if (bestLen < 2) bestBase = -1;
    StringBuilder out = new StringBuilder();
    for (int i = 0; i < 8; i++) {
      if (bestBase >= 0 && i >= bestBase && i < bestBase + bestLen) {
        if (i == bestBase) out.append(':');
        continue;
      }
      if (i != 0) out.append(':');
      boolean ipv4Tail = i == 6 && bestBase == 0
          && (bestLen == 6 || (bestLen == 7 && words[7] != 1) || (bestLen == 5 && words[5] == 0xffff));
      if (ipv4Tail) {
        out.append(bytes[12] & 0xff).append('.').append(bytes[13] & 0xff).append('.')
            .append(bytes[14] & 0xff).append('.').append(bytes[15] & 0xff);
        return out.toString();
      }
      out.append(Integer.toHexString(words[i]));
    }
    if (bestBase >= 0 && bestBase + bestLen == 8) out.append(':');
    return out.toString();
  }
}
