package dev.fetchpool.client;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Reads client-sdk/testdata vectors: skips '#' and blank lines, splits on TAB. */
final class TestData {
  private TestData() {}

  static List<String[]> rows(String file) throws IOException {
    String dir = System.getenv("FETCHPOOL_TESTDATA");
    Path path = Path.of(dir != null ? dir : "../testdata", file);
    List<String[]> rows = new ArrayList<>();
    for (String line : Files.readAllLines(path)) {
      if (line.isBlank() || line.startsWith("#")) continue;
      rows.add(line.split("\t", -1));
    }
    return rows;
  }
}
