package dev.fetchpool.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class PoolKeyTest {
  @Test
  void everyVectorMatchesTheServer() throws Exception {
    List<String[]> rows = TestData.rows("pool_keys.tsv");
    assertTrue(rows.size() >= 20, "pool_keys.tsv has its vectors");
    for (String[] row : rows) {
      assertEquals(row[1], PoolKey.of(row[0]), "pool key of " + row[0]);
    }
  }

  @Test
  void urlsFetchpooldRefusesHaveNoKey() {
    assertNull(PoolKey.of("ftp://example.com/"));
    assertNull(PoolKey.of("example.com/path"));
    assertNull(PoolKey.of("http://user:pw@example.com/"));
    assertNull(PoolKey.of("http:///path"));
    assertNull(PoolKey.of("http://example.com:0/"));
    assertNull(PoolKey.of("http://example.com:65536/"));
    assertNull(PoolKey.of("http://exa mple.com/"));
    assertNull(PoolKey.of("http://[not-v6]/"));
    assertNull(PoolKey.of(""));
  }

  @Test
  void numericIpv4Forms() {
    assertEquals("http://127.0.0.1:80", PoolKey.of("http://0177.0.0.1/"));
    assertEquals("http://10.0.1.2:80", PoolKey.of("http://10.258/"));
  }

  @Test
  void ipv6TextAsInetNtopWritesIt() {
    assertEquals("http://[::]:80", PoolKey.of("http://[::]/"));
    assertEquals("http://[1::]:80", PoolKey.of("http://[1:0:0:0:0:0:0:0]/"));
    assertEquals("http://[1:0:1::1]:80", PoolKey.of("http://[1:0:1:0:0:0:0:1]/"));
    assertEquals("http://[::ffff:10.0.0.1]:80", PoolKey.of("http://[::FFFF:a00:1]/"));
  }
}
