package fcrdns_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/mtaguard/mtaguard/fcrdns"
	"github.com/mtaguard/mtaguard/verdict"
)

func TestGeneric(t *testing.T) {
	for _, c := range []struct {
		ip, name string
		want     bool
		rule     string // substring, when want
	}{
		// anchor-cases.md section B.
		{"66.128.51.165", "mail.theartfarm.com", false, ""},                              // B1
		{"188.34.255.136", "dsl-188-34-255-136.asretelecom.net", true, "decimal"},        // B2
		{"76.121.96.159", "c-76-121-96-159.hsd1.wa.comcast.net", true, "decimal"},        // B3
		{"76.121.96.159", "c-76-121-96-159.business.wa.comcast.net", false, ""},          // B4
		{"109.168.232.131", "host-109-168-232-131.stv.ru", true, "decimal"},              // B5
		{"62.198.236.129", "0x3ec6ec81.inet.dsl.telianet.dk", true, "hexadecimal"},       // B6
		{"123.58.178.17", "m17-178.vip.126.com", true, "decimal"},                        // B7
		{"100.42.67.92", "92-67-42-100-dedicated.multacom.com", true, "decimal"},         // B8
		{"74.125.82.53", "mail-ww0-f53.google.com", false, ""},                           // B9
		{"8.8.8.8", "dns.google", false, ""},                                             // B9
		{"1.2.3.4", "mail1and2.example.com", false, ""},                                  // B10: Haraka over-matches
		{"1.2.3.4", "mail1and2.example", false, ""},                                      // B10
		{"2001:db8::1", "host-2001-db8--1.example.com", false, ""},                       // B11
		{"::ffff:76.121.96.159", "c-76-121-96-159.hsd1.wa.comcast.net", true, "decimal"}, // mapped is IPv4
		{"188.34.255.136", "dsl188034255136.example.net", true, "zero-padded"},           // padded
		{"188.34.255.136", "h136255034188.example.net", true, "zero-padded"},             // padded, reversed
		{"62.198.236.129", "x81ecc63e.example.net", true, "hexadecimal"},                 // hex, reversed
		{"192.0.2.7", "7.2.0.192.rev.example.net", true, "decimal"},                      // dotted, reversed
		{"192.0.2.7", "p2_7.example.net", true, "decimal"},                               // underscore
		{"192.0.2.7", "a2-x-7.example.net", false, ""},                                   // not adjacent
		{"192.0.2.7", "mx2--7.example.net", false, ""},                                   // two separators
		{"192.0.2.7", "mx0192-2.example.net", false, ""},                                 // 4-digit run breaks the chain
		{"192.0.2.7", "1192-0.example.net", false, ""},                                   // 4-digit run is no octet
		{"198.51.100.7", "pool-a.example.net", true, `"pool"`},                           // word
		{"2001:db8::1", "dynamic.ipv6.example.net", true, `"dynamic"`},                   // word, IPv6
		{"198.51.100.7", "p5dc1a2b3.dip0.t-ipconnect.de", true, `"dip"`},                 // word after digits
		{"198.51.100.7", "static.dsl.example.net", false, ""},                            // exemption wins
		{"198.51.100.7", "mail.dsl-provider.com", false, ""},                             // word only in the domain
		{"198.51.100.7", "dsl.example.com.", true, `"dsl"`},                              // trailing dot
		{"198.51.100.7", "DSL.Example.COM", true, `"dsl"`},                               // case
		{"198.51.100.7", "", false, ""},                                                  // empty
		{"198.51.100.7", "com", false, ""},                                               // public suffix
		{"198.51.100.7", "mailpool.example.com", false, ""},                              // word inside a word
	} {
		rule, ok := fcrdns.Generic(netip.MustParseAddr(c.ip), c.name)
		if ok != c.want || ok && !strings.Contains(rule, c.rule) || !ok && rule != "" {
			t.Errorf("Generic(%s, %q) = %q, %v; want %v (%q)", c.ip, c.name, rule, ok, c.want, c.rule)
		}
	}
}

func FuzzGeneric(f *testing.F) {
	f.Add("188.34.255.136", "dsl-188-34-255-136.asretelecom.net")
	f.Add("62.198.236.129", "0x3ec6ec81.inet.dsl.telianet.dk")
	f.Add("1.2.3.4", "mail1and2.example.com")
	f.Add("2001:db8::1", "dynamic.ipv6.example.net")
	f.Add("188.34.255.136", "dsl188034255136.example.net")
	f.Add("1.2.3.4", "a\x00b.\xff.example.com.")
	f.Fuzz(func(t *testing.T, ipText, name string) {
		ip, err := netip.ParseAddr(ipText)
		if err != nil {
			return
		}
		rule, ok := fcrdns.Generic(ip, name)
		if ok != (rule != "") {
			t.Fatalf("Generic(%s, %q) = %q, %v", ip, name, rule, ok)
		}
		if verdict.Printable(rule) != rule {
			t.Fatalf("rule %q is not printable", rule)
		}
	})
}
