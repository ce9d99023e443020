package dev.fetchpool.interop;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** One JSON object line of the interop output; values are String, Number, Boolean or List. */
final class JsonLine {
  private final Map<String, Object> fields = new LinkedHashMap<>();

  JsonLine put(String name, Object value) {
    fields.put(name, value);
    return this;
  }

  @Override
  public String toString() {
    StringBuilder out = new StringBuilder("{");
    for (Map.Entry<String, Object> e : fields.entrySet()) {
      if (out.length() > 1) out.append(", ");
      out.append(quote(e.getKey())).append(": ").append(value(e.getValue()));
    }
    return out.append('}').toString();
  }

  private static String value(Object v) {
    if (v instanceof Number || v instanceof Boolean) return v.toString();
    if (v instanceof List) {
      StringBuilder out = new StringBuilder("[");
      for (Object item : (List<?>) v) {
        if (out.length() > 1) out.append(", ");
        out.append(value(item));
      }
      return out.append(']').toString();
    }
    return quote(String.valueOf(v));
  }

  static String quote(String s) {
    StringBuilder out = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      switch (c) {
        case '"': out.append("\\\""); break;
        case '\\': out.append("\\\\"); break;
        case '\n': out.append("\\n"); break;
        case '\r': out.append("\\r"); break;
        case '\t': out.append("\\t"); break;
        default:
          if (c < 0x20) {
            out.append(String.format("\\u%04x", (int) c));
          } else {
            out.append(c);
          }
      }
    }
    return out.append('"').toString();
  }
}
