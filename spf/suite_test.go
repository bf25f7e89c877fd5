package spf

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	libspf "blitiri.com.ar/go/spf"
	"github.com/miekg/dns"
	"gopkg.in/yaml.v3"

	"github.com/mtaguard/mtaguard/resolver/resolvertest"
)

// The official SPF test suites (openspf.org, as shipped by pyspf), unedited:
// rfc7208-tests.yml and rfc4408-tests.yml. Each scenario's zonedata becomes
// a resolvertest zone and each test runs through Check.
const suiteDir = "../../shared/testdata/spf"

// knownFailures are the scenarios of the suites that Check does not pass,
// and why. The test fails when any other scenario fails, and when one of
// these starts to pass (so the list gets shorter).
var knownFailures = map[string]string{
	// Names no resolver of ours will look up: net's, resolver's and
	// resolvertest's lookups refuse names that are not host names
	// (RFC 1123), as net.Resolver does, and give not-found for them.
	"rfc7208/a-colon-domain":            "needs an A lookup of foo:bar/baz.example.com, which resolvers refuse",
	"rfc7208/a-colon-domain-ip4mapped":  "needs an A lookup of foo:bar/baz.example.com, which resolvers refuse",
	"rfc7208/mx-colon-domain":           "needs an MX lookup of foo:bar/baz.example.com, which resolvers refuse",
	"rfc7208/mx-colon-domain-ip4mapped": "needs an MX lookup of foo:bar/baz.example.com, which resolvers refuse",
	"rfc7208/macro-mania-in-domain":     "needs an A lookup of a name with '%' and spaces, which resolvers refuse",
	"rfc4408/a-colon-domain":            "needs an A lookup of foo:bar/baz.example.com, which resolvers refuse",
	"rfc4408/a-colon-domain-ip4mapped":  "needs an A lookup of foo:bar/baz.example.com, which resolvers refuse",
	"rfc4408/mx-colon-domain":           "needs an MX lookup of foo:bar/baz.example.com, which resolvers refuse",
	"rfc4408/mx-colon-domain-ip4mapped": "needs an MX lookup of foo:bar/baz.example.com, which resolvers refuse",
	"rfc4408/macro-mania-in-domain":     "needs an A lookup of a name with '%' and spaces, which resolvers refuse",

	// The result (fail) is right; the suite wants the explanation's
	// %{ir} in upper-case hex ("...E.B.A.B.E.F.A.C.ip6.arpa"), where
	// RFC 7208 §7.4's own example expands %{ir} in lower case.
	"rfc7208/v-macro-ip6": "explanation: suite expects upper-case hex nibbles from %{ir}",
	"rfc4408/v-macro-ip6": "explanation: suite expects upper-case hex nibbles from %{ir}",
}

func TestSuites(t *testing.T) {
	if _, err := os.Stat(suiteDir); err != nil {
		t.Skipf("SPF test suites not found (%v): they live in the project's shared test data, beside the module", err)
	}
	for _, name := range []string{"rfc7208", "rfc4408"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			runSuite(t, name, filepath.Join(suiteDir, name+"-tests.yml"))
		})
	}
}

func runSuite(t *testing.T, suiteName, file string) {
	scenarios := loadSuite(t, file)
	total, passed, known, plain := 0, 0, 0, 0
	seen := map[string]bool{}
	for _, sc := range scenarios {
		r := sc.resolver(t)
		names := make([]string, 0, len(sc.Tests))
		for name := range sc.Tests {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			tc := sc.Tests[name]
			id := suiteName + "/" + name
			seen[id] = true
			total++
			got, exp := runCase(t, r, tc)
			ok := slices.Contains(tc.Result, got)
			// What the SPF library gives alone, through the same zone:
			// every scenario it gets right must stay right.
			if p := plainCase(t, r, tc); slices.Contains(tc.Result, p) {
				plain++
				if !ok {
					t.Errorf("%s: the SPF library alone gives %s, Check gives %s", id, p, got)
				}
			}
			if ok && tc.Explanation != nil {
				want := *tc.Explanation
				if want == "DEFAULT" {
					want = "" // the suite's stand-in for "no explanation from the domain"
				}
				ok = exp == want
			}
			why, isKnown := knownFailures[id]
			switch {
			case ok && isKnown:
				t.Errorf("%s now passes: remove it from knownFailures (%s)", id, why)
				passed++
			case ok:
				passed++
			case isKnown:
				known++
			default:
				t.Errorf("%s (%s): got %s, explanation %q; want %v, explanation %s",
					id, tc.Spec, got, exp, tc.Result, printExp(tc.Explanation))
			}
		}
	}
	for id := range knownFailures {
		if strings.HasPrefix(id, suiteName+"/") && !seen[id] {
			t.Errorf("knownFailures names %s, which the suite does not have", id)
		}
	}
	t.Logf("%s: %d of %d scenarios pass; %d known failures; the SPF library alone gets %d results right",
		suiteName, passed, total, known, plain)
}

func printExp(p *string) string {
	if p == nil {
		return "(any)"
	}
	return fmt.Sprintf("%q", *p)
}

// runCase runs one test through Check and returns the result word and the
// domain's explanation (read back from the reason of a fail).
func runCase(t *testing.T, r *resolvertest.Resolver, tc suiteTest) (result, exp string) {
	ip, err := netip.ParseAddr(tc.Host)
	if err != nil {
		t.Fatalf("bad host %q: %v", tc.Host, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res := Check(ctx, r, ip, tc.Helo, tc.MailFrom)
	if _, e, ok := strings.Cut(res.Reason, " explains: "); ok {
		exp = e
	}
	return res.Status.String(), exp
}

// plainCase runs one test through the SPF library alone, as a plain
// wrapper would, and returns its result word.
func plainCase(t *testing.T, r *resolvertest.Resolver, tc suiteTest) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sender := tc.MailFrom
	if sender == "" {
		sender = "postmaster@" + tc.Helo
	}
	res, _ := libspf.CheckHostWithSender(net.ParseIP(tc.Host), tc.Helo, sender,
		libspf.WithContext(ctx), libspf.WithResolver(r))
	return string(res)
}

type suiteScenario struct {
	Description string
	Tests       map[string]suiteTest
	ZoneData    map[string][]zoneEntry `yaml:"zonedata"`
}

type suiteTest struct {
	Spec        strList
	Helo        string
	Host        string
	MailFrom    string `yaml:"mailfrom"`
	Result      strList
	Explanation *string
}

// strList is a YAML string or list of strings.
type strList []string

func (l *strList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*l = strList{n.Value}
		return nil
	}
	var s []string
	if err := n.Decode(&s); err != nil {
		return err
	}
	*l = s
	return nil
}

// zoneEntry is one item of a zonedata list: a record as a one-key map
// ("A: 1.2.3.4", "MX: [0, mx.example.com]", "SPF: [string, string]"), or
// the bare word TIMEOUT.
type zoneEntry struct {
	Type   string
	Values []string
}

func (z *zoneEntry) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		z.Type = n.Value
		return nil
	}
	if n.Kind != yaml.MappingNode || len(n.Content) != 2 {
		return fmt.Errorf("line %d: unexpected zone entry", n.Line)
	}
	z.Type = n.Content[0].Value
	v := n.Content[1]
	switch v.Kind {
	case yaml.ScalarNode:
		z.Values = []string{v.Value}
	case yaml.SequenceNode:
		for _, c := range v.Content {
			z.Values = append(z.Values, c.Value)
		}
	default:
		return fmt.Errorf("line %d: unexpected zone value", v.Line)
	}
	return nil
}

func loadSuite(t *testing.T, file string) []suiteScenario {
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []suiteScenario
	dec := yaml.NewDecoder(f)
	for {
		var sc suiteScenario
		err := dec.Decode(&sc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		out = append(out, sc)
	}
	return out
}

// resolver builds the scenario's zone, following the conventions of the
// suite's reference driver (pyspf's testspf.py):
//   - SPF (type 99) records are also published as TXT records, unless
//     the name has TXT records of its own ("TXT: NONE" means none, and
//     stops the copying);
//   - TIMEOUT makes every query type that has no record listed before it
//     time out.
func (sc suiteScenario) resolver(t *testing.T) *resolvertest.Resolver {
	r := resolvertest.MustNew("")
	r.SetTimeoutAfter(20 * time.Millisecond)
	var zone strings.Builder
	for name, entries := range sc.ZoneData {
		owner := zoneName(name)
		hasTXT := false
		for _, e := range entries {
			if e.Type == "TXT" {
				hasTXT = true
			}
		}
		seen := map[uint16]bool{}
		timeout := false
		for _, e := range entries {
			switch e.Type {
			case "TIMEOUT":
				timeout = true
				for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeMX, dns.TypeTXT, dns.TypePTR, dns.TypeCNAME, dns.TypeSPF} {
					if !seen[qt] {
						r.SetFaultType(name, qt, resolvertest.Timeout)
					}
				}
			case "A", "AAAA":
				fmt.Fprintf(&zone, "%s %s %s\n", owner, e.Type, e.Values[0])
				seen[dns.StringToType[e.Type]] = true
			case "PTR", "CNAME":
				fmt.Fprintf(&zone, "%s %s %s\n", owner, e.Type, zoneName(e.Values[0]))
				seen[dns.StringToType[e.Type]] = true
			case "MX":
				fmt.Fprintf(&zone, "%s MX %s %s\n", owner, e.Values[0], zoneName(e.Values[1]))
				seen[dns.TypeMX] = true
			case "TXT", "SPF":
				if e.Type == "TXT" && len(e.Values) == 1 && e.Values[0] == "NONE" {
					continue
				}
				fmt.Fprintf(&zone, "%s %s %s\n", owner, e.Type, zoneStrings(e.Values))
				seen[dns.StringToType[e.Type]] = true
				if e.Type == "SPF" && !hasTXT {
					fmt.Fprintf(&zone, "%s TXT %s\n", owner, zoneStrings(e.Values))
					seen[dns.TypeTXT] = true
				}
			default:
				t.Fatalf("zonedata %s: unknown entry %q", name, e.Type)
			}
		}
		_ = timeout
	}
	if err := r.Add(zone.String()); err != nil {
		t.Fatalf("%s: %v\n%s", sc.Description, err, zone.String())
	}
	return r
}

// zoneName writes a domain name as an absolute zone-file name, escaping
// the characters the zone format gives a meaning.
func zoneName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case strings.IndexByte(` "();\@$'`, c) >= 0:
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c > 0x7e:
			fmt.Fprintf(&b, "\\%03d", c)
		default:
			b.WriteByte(c)
		}
	}
	return dns.Fqdn(b.String())
}

// zoneStrings writes the character-strings of a TXT record. The bytes are
// written as they are (the zone parser keeps them, and in memory they come
// back unchanged); only quotes and backslashes are escaped.
func zoneStrings(ss []string) string {
	if len(ss) == 0 {
		return `""`
	}
	var b strings.Builder
	for i, s := range ss {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteByte('"')
		b.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s))
		b.WriteByte('"')
	}
	return b.String()
}
