package dev.fetchpool.client;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.TreeSet;

/**
 * fetchpool-ring-v1 (client-sdk/README.md, "Host affinity"): each member has 256 points, the
 * first 8 bytes (big-endian, unsigned) of SHA-256(member + "#" + i); a key goes to the member
 * of the first point at or after SHA-256(key)'s, wrapping around; of equal points the member
 * that sorts first wins. Immutable.
 */
public final class Ring {
  static final int POINTS_PER_MEMBER = 256;

  private final long[] points; // sorted as unsigned
  private final String[] owners;

  public Ring(Collection<String> members) {
    List<String> sorted = new ArrayList<>(new TreeSet<>(members));
    List<long[]> entries = new ArrayList<>(); // {point, member index}
    for (int m = 0; m < sorted.size(); m++) {
      for (int i = 0; i < POINTS_PER_MEMBER; i++) {
        entries.add(new long[] {point(sorted.get(m) + "#" + i), m});
      }
    }
    entries.sort((a, b) -> {
      int byPoint = Long.compareUnsigned(a[0], b[0]);
      return byPoint != 0 ? byPoint : Long.compare(a[1], b[1]);
    });
    points = new long[entries.size()];
    owners = new String[entries.size()];
    for (int i = 0; i < entries.size(); i++) {
      points[i] = entries.get(i)[0];
      owners[i] = sorted.get((int) entries.get(i)[1]);
    }
  }

  /** The member the key goes to; null for an empty ring. */
  public String pick(String key) {
    if (points.length == 0) return null;
    long target = point(key);
    int lo = 0;
    int hi = points.length; // first index whose point >= target
    while (lo < hi) {
      int mid = (lo + hi) >>> 1;
      if (Long.compareUnsigned(points[mid], target) < 0) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    return owners[lo == points.length ? 0 : lo];
  }

  static long point(String text) {
    byte[] digest;
    try {
      digest = MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("SHA-256 is part of every JRE", e);
    }
    long value = 0;
    for (int i = 0; i < 8; i++) value = (value << 8) | (digest[i] & 0xff);
    return value;
  }
}
