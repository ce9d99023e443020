package dev.fetchpool.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class RingTest {
  @Test
  void everyVectorPicksTheSameMember() throws Exception {
    List<String[]> rows = TestData.rows("ring.tsv");
    assertTrue(rows.size() >= 20, "ring.tsv has its vectors");
    for (String[] row : rows) {
      Ring ring = new Ring(Arrays.asList(row[0].split(",")));
      assertEquals(row[2], ring.pick(row[1]), row[0] + " " + row[1]);
    }
  }

  @Test
  void memberOrderDoesNotMatter() {
    Ring a = new Ring(List.of("10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1"));
    Ring b = new Ring(List.of("10.0.0.3:1", "10.0.0.1:1", "10.0.0.2:1"));
    for (int i = 0; i < 100; i++) {
      assertEquals(a.pick("http://o" + i + ":80"), b.pick("http://o" + i + ":80"));
    }
  }

  @Test
  void removingAMemberMovesOnlyItsKeys() {
    Ring three = new Ring(List.of("10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1"));
    Ring two = new Ring(List.of("10.0.0.1:1", "10.0.0.2:1"));
    Map<String, Integer> perMember = new HashMap<>();
    for (int i = 0; i < 3000; i++) {
      String key = "http://origin-" + i + ".example:80";
      String before = three.pick(key);
      perMember.merge(before, 1, Integer::sum);
      if (!before.equals("10.0.0.3:1")) assertEquals(before, two.pick(key), key);
    }
    for (int count : perMember.values()) assertTrue(count > 600, "balanced: " + perMember);
  }

  @Test
  void emptyRingPicksNothing() {
    assertNull(new Ring(List.of()).pick("http://a:80"));
  }
}
