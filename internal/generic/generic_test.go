package generic

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/mtaguard/mtaguard/verdict"
)

// cases are names with the address they belong to. The real ones come
// from Haraka's tests (haraka-net-utils test/net_utils.js is_ip_in_str,
// Haraka tests/plugins/connect.fcrdns.js and helo.checks.js) and from
// Received fields of public mailing-list archives, where the receiving
// MTA wrote the client's PTR name next to its address (cited per case).
var cases = []struct {
	ip, name string
	name2    bool   // Name's answer
	address  bool   // Address's answer
	rule     string // substring of the rule, when generic
}{
	// Haraka connect.fcrdns and net_utils tests.
	{"66.128.51.165", "mail.theartfarm.com", false, false, ""},
	{"188.34.255.136", "dsl-188-34-255-136.asretelecom.net", true, true, "decimal"},
	{"76.121.96.159", "c-76-121-96-159.hsd1.wa.comcast.net", true, true, "decimal"},
	{"76.121.96.159", "c-76-121-96-159.business.wa.comcast.net", false, false, ""},
	{"109.168.232.131", "host-109-168-232-131.stv.ru", true, true, "decimal"},
	{"62.198.236.129", "0x3ec6ec81.inet.dsl.telianet.dk", true, true, "hexadecimal"},
	{"123.58.178.17", "m17-178.vip.126.com", true, true, "decimal"},
	{"100.42.67.92", "92-67-42-100-dedicated.multacom.com", true, true, "decimal"},
	{"101.0.57.5", "static-bpipl-101.0.57-5.com", false, false, ""}, // Haraka's is_ip_in_str says true; the static exemption wins
	{"74.125.82.182", "mail-we0-f182.google.com", false, false, ""},
	{"74.125.82.53", "mail-ww0-f53.google.com", false, false, ""},
	{"8.8.8.8", "dns.google", false, false, ""},
	{"24.18.98.14", "c-24-18-98-14.hsd1.wa.comcast.net", true, true, "decimal"}, // net_utils octets_in_string
	{"1.2.3.4", "mail1and2.example.com", false, false, ""},                      // Haraka over-matches
	{"1.2.3.4", "mail1and2.example", false, false, ""},
	{"208.75.177.99", "matt.simerson.tld", false, false, ""}, // helo.checks dynamic pass
	// Received fields of mailing-list archives (vger.kernel.org, gmail).
	{"217.235.27.46", "pD9EB1B2E.dip0.t-ipconnect.de", true, true, "hexadecimal"},
	{"84.154.221.86", "p549add56.dip0.t-ipconnect.de", true, true, "hexadecimal"},
	{"46.91.226.206", "p2E5BE2CE.dip0.t-ipconnect.de.", true, true, "hexadecimal"},
	{"2003:cb:c709:6200:16ba:af70:999d:6a1a", "p200300cbc709620016baaf70999d6a1a.dip0.t-ipconnect.de", true, true, "IPv6 address is embedded in hexadecimal"},
	{"2003:ec:2f0b:8b00:19d6:3feb:f10f:193b", "p200300EC2F0B8B0019D63FEBF10F193B.dip0.t-ipconnect.de", true, true, "hexadecimal"},
	{"2001:b011:7010:d7cf:1ecc:f3e6:c652:23d3", "2001-b011-7010-d7cf-1ecc-f3e6-c652-23d3.dynamic-ip6.hinet.net", true, true, "colons replaced"},
	{"2001:b400:e383:3566:13c:5a87:9abc:381e", "2001-b400-e383-3566-013c-5a87-9abc-381e.emome-ip6.hinet.net", true, true, "colons replaced"},
	// The name of another address of the client's /64 (an earlier
	// privacy address): a pool word, but not the client's own address.
	{"2001:b400:e384:7809:50d7:4f66:57aa:588c", "2001-b400-e384-7809-32b4-db27-121a-a0aa.emome-ip6.hinet.net", false, false, ""},
	{"2001:b011:380f:3c42:1138:6cd0:3dc6:cfa2", "2001-b011-380f-3c42-1138-6cd0-3dc6-cfa2.dynamic-ip6.hinet.net", true, true, "colons replaced"},
	{"2001:8b0:dfde:e1a0::2", "2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.a.1.e.e.d.f.d.0.b.8.0.1.0.0.2.ip6.arpa.", true, true, "nibbles"},
	{"192.0.2.25", "25.2.0.192.in-addr.arpa", true, true, "decimal"},

	// Forms and edges.
	{"::ffff:76.121.96.159", "c-76-121-96-159.hsd1.wa.comcast.net", true, true, "decimal"}, // mapped is IPv4
	{"188.34.255.136", "dsl188034255136.example.net", true, true, "zero-padded"},
	{"188.34.255.136", "h136255034188.example.net", true, true, "zero-padded"},
	{"188.34.255.136", "h-188-034-255-136.example.net", true, true, "decimal"},
	{"62.198.236.129", "x81ecc63e.example.net", true, true, "hexadecimal"},
	{"192.0.2.7", "7.2.0.192.rev.example.net", true, true, "decimal"},
	{"192.0.2.7", "p2_7.example.net", true, true, "decimal"},
	{"192.0.2.7", "a2-x-7.example.net", false, false, ""},
	{"192.0.2.7", "mx2--7.example.net", false, false, ""},
	{"192.0.2.7", "mx0192-2.example.net", false, false, ""},
	{"192.0.2.7", "1192-0.example.net", false, false, ""},
	{"2001:db8::1", "host-2001-db8--1.example.com", true, true, "colons replaced"},
	{"2001:db8::1", "c-2001-db8--1.example.com", true, true, "colons replaced"},
	{"2001:db8::1", "h-2001-0db8-0000-0000-0000-0000-0000-0001.example.com", true, true, "colons replaced"},
	{"2001:db8::1", "h.2001.db8.0.0.0.0.0.1.example.com", true, true, "colons replaced"},
	{"2001:db8::1", "1-0-0-0-0-0-0-0-0-0-0-0-0-0-0-0-0-0-0-0-0-0-0-0-8-b-d-0-1-0-0-2.v6.example.com", true, true, "nibbles"},
	{"2001:db8::1", "2.0.0.1.0.d.b.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.v6.example.com", true, true, "nibbles"},
	{"2001:db8::1", "20010db8000000000000000000000001.example.com", true, true, "hexadecimal"},
	{"2001:db8::2", "host-2001-db8--1.example.com", false, false, ""}, // a neighbour's name
	{"2001:db8::1", "mx-2001-db8.example.com", false, false, ""},      // the prefix only
	{"2001:db8::1", "static-2001-db8--1.example.com", false, false, ""},
	{"198.51.100.7", "pool-a.example.net", true, false, `"pool"`},
	{"2001:db8::1", "dynamic.ipv6.example.net", true, false, `"dynamic"`},
	{"198.51.100.7", "p5dc1a2b3.dip0.t-ipconnect.de", true, false, `"dip"`},
	{"198.51.100.7", "static.dsl.example.net", false, false, ""},
	{"198.51.100.7", "mail.dsl-provider.com", false, false, ""},
	{"198.51.100.7", "dsl.example.com.", true, false, `"dsl"`},
	{"198.51.100.7", "DSL.Example.COM", true, false, `"dsl"`},
	{"198.51.100.7", "", false, false, ""},
	{"198.51.100.7", "com", false, false, ""},
	{"198.51.100.7", "mailpool.example.com", false, false, ""},
	{"", "c-76-121-96-159.hsd1.wa.comcast.net", false, false, ""}, // no address
}

func TestName(t *testing.T) {
	for _, c := range cases {
		var ip netip.Addr
		if c.ip != "" {
			ip = netip.MustParseAddr(c.ip)
		}
		rule, ok := Name(ip, c.name)
		if ok != c.name2 || ok && !strings.Contains(rule, c.rule) || !ok && rule != "" {
			t.Errorf("Name(%s, %q) = %q, %v; want %v (%q)", c.ip, c.name, rule, ok, c.name2, c.rule)
		}
		rule, ok = Address(ip, c.name)
		if ok != c.address || ok && !strings.Contains(rule, c.rule) || !ok && rule != "" {
			t.Errorf("Address(%s, %q) = %q, %v; want %v (%q)", c.ip, c.name, rule, ok, c.address, c.rule)
		}
	}
}

func FuzzName(f *testing.F) {
	for _, c := range cases {
		f.Add(c.ip, c.name)
	}
	f.Add("1.2.3.4", "a\x00b.\xff.example.com.")
	f.Add("2001:db8::1", strings.Repeat("1-", 115)+"1.example.com")
	f.Fuzz(func(t *testing.T, ipText, name string) {
		ip, _ := netip.ParseAddr(ipText) // the zero Addr too
		rule, ok := Name(ip, name)
		if ok != (rule != "") {
			t.Fatalf("Name(%s, %q) = %q, %v", ip, name, rule, ok)
		}
		if verdict.Printable(rule) != rule {
			t.Fatalf("rule %q is not printable", rule)
		}
		// The client's own IPv6 address, colons replaced, is always found.
		if text := ip.WithZone("").String(); ip.Is6() && !ip.Is4In6() && !strings.HasPrefix(text, "::") && !strings.HasSuffix(text, "::") {
			own := "h-" + strings.ReplaceAll(text, ":", "-") + ".example.com"
			if _, ok := Address(ip, own); !ok {
				t.Fatalf("Address(%s, %q) found nothing", ip, own)
			}
		}
		arule, aok := Address(ip, name)
		if aok != (arule != "") || aok && (!ok || arule != rule) {
			// An embedded address is rule 2 of Name: Name must say the same.
			t.Fatalf("Address(%s, %q) = %q, %v; Name = %q, %v", ip, name, arule, aok, rule, ok)
		}
	})
}
