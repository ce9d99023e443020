package fetchpool

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readVectors returns the TAB-separated fields of each line of a file in
// client-sdk/testdata, skipping comments and blank lines.
func readVectors(t *testing.T, name string) [][]string {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows [][]string
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		line := scanner.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		rows = append(rows, strings.Split(line, "\t"))
	}
	if err := scanner.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestPoolKeyVectors(t *testing.T) {
	rows := readVectors(t, "pool_keys.tsv")
	if len(rows) < 20 {
		t.Fatalf("only %d vectors in pool_keys.tsv", len(rows))
	}
	for _, row := range rows {
		if len(row) != 2 {
			t.Fatalf("bad vector line %q", row)
		}
		got, ok := PoolKey(row[0])
		if !ok || got != row[1] {
			t.Errorf("PoolKey(%q) = %q, %v; want %q", row[0], got, ok, row[1])
		}
	}
	t.Logf("%d pool-key vectors checked", len(rows))
}

func TestPoolKeyRefusesWhatFetchpooldRefuses(t *testing.T) {
	for _, raw := range []string{
		"", "example.com", "ftp://example.com/", "http:///path", "http://example.com:0/",
		"http://example.com:65536/", "http://user:pw@example.com/", "http://exa mple.com/",
		"http://[::1/", "http://[127.0.0.1]/", "localhost:8080/x",
	} {
		if key, ok := PoolKey(raw); ok {
			t.Errorf("PoolKey(%q) = %q, want no key", raw, key)
		}
	}
}

func TestNumericIPv4Forms(t *testing.T) {
	cases := map[string]string{
		"127.1": "127.0.0.1", "2130706433": "127.0.0.1", "0x7f.1": "127.0.0.1",
		"0177.0.0.1": "127.0.0.1", "10.1.2": "10.1.0.2", "0x7F000001": "127.0.0.1",
	}
	for in, want := range cases {
		if got, ok := numericIPv4(in); !ok || got != want {
			t.Errorf("numericIPv4(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"256.1.1.1", "1.2.3.4.5", "example.com", "1.2.3.256", "09.1", "0x", "1..2"} {
		if got, ok := numericIPv4(in); ok {
			t.Errorf("numericIPv4(%q) = %q, want not numeric", in, got)
		}
	}
}
