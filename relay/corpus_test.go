package relay

import (
	"bufio"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"
)

// corpusRow is one line of testdata/received/corpus.jsonl: a Received
// field seen in real mail, taken from another project's tests or
// documentation (source), and what a careful reader extracts from it.
type corpusRow struct {
	Field  string `json:"field"`  // the value after "Received:", folded lines as "\n" + WSP
	Want   string `json:"want"`   // "hop": the field names ip/helo; "trusted": its client is loopback; "none": it records no hand-over; "error": it cannot be read
	IP     string `json:"ip"`     // for "hop"
	HELO   string `json:"helo"`   // for "hop"
	Source string `json:"source"` // repository and path it comes from
	Note   string `json:"note"`
}

func readCorpus(t testing.TB) []corpusRow {
	f, err := os.Open("testdata/received/corpus.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []corpusRow
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r corpusRow
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("corpus line %d: %v", len(rows)+1, err)
		}
		rows = append(rows, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestBorderCorpus reads every field of the corpus on top of a message,
// with a field of an outside client below it:
//
//   - "hop": untrusted, the field names its client and HELO name;
//     with the client in the trusted networks, the walk goes on to the
//     field below;
//   - "trusted" (a loopback client) and "none" (no hand-over): the walk
//     goes on;
//   - "error": Border fails, and names no address.
func TestBorderCorpus(t *testing.T) {
	const below = "Received: from below.example (below.example [198.51.100.200]) by x; Mon, 1 Dec 2025 10:00:00 +0000\r\n"
	belowIP := netip.MustParseAddr("198.51.100.200")
	rows := readCorpus(t)
	if len(rows) < 150 {
		t.Errorf("%d fields in the corpus, want at least 150", len(rows))
	}
	for n, r := range rows {
		if r.Source == "" {
			t.Errorf("line %d: no source", n+1)
		}
		field := "Received: " + strings.ReplaceAll(r.Field, "\n", "\r\n") + "\r\n"
		message := func(extra string) *strings.Reader {
			return strings.NewReader(field + extra + "Subject: x\r\n\r\nbody\r\n")
		}
		name := r.Field
		switch r.Want {
		case "hop":
			ip := netip.MustParseAddr(r.IP)
			hop, err := Border(message(below), nil)
			if err != nil || hop.IP != ip || hop.HELO != r.HELO {
				t.Errorf("%s\n\tgot %+v, %v; want %s HELO %q", name, hop, err, ip, r.HELO)
			}
			trusted := []netip.Prefix{netip.PrefixFrom(ip, ip.BitLen())}
			if hop, err := Border(message(below), trusted); err != nil || hop.IP != belowIP {
				t.Errorf("%s\n\twith %s trusted: %+v, %v; want the field below", name, ip, hop, err)
			}
			if _, err := Border(message(""), trusted); !errors.Is(err, ErrNoHop) {
				t.Errorf("%s\n\twith %s trusted, alone: %v; want ErrNoHop", name, ip, err)
			}
		case "trusted", "none":
			if hop, err := Border(message(below), nil); err != nil || hop.IP != belowIP {
				t.Errorf("%s\n\tgot %+v, %v; want the walk to go on", name, hop, err)
			}
		case "error":
			if hop, err := Border(message(below), nil); err == nil || errors.Is(err, ErrNoHop) {
				t.Errorf("%s\n\tgot %+v, %v; want an error", name, hop, err)
			}
		default:
			t.Errorf("line %d: want %q", n+1, r.Want)
		}
	}
}
