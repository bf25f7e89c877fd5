package generic

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/publicsuffix"
)

// BenchmarkName measures Name on real names and on a worst case (a long
// IPv6 name of hex fields, every window parsed), each also reported as
// "x-psl", its time over that of the public suffix lookup every call makes,
// measured in the same run.
func BenchmarkName(b *testing.B) {
	cases := []struct{ bench, ip, name string }{
		{"ipv4-comcast", "76.121.96.159", "c-76-121-96-159.hsd1.wa.comcast.net"},
		{"ipv4-mailserver", "74.125.82.53", "mail-ww0-f53.google.com"},
		{"ipv6-hinet", "2001:b011:380f:3c42:1138:6cd0:3dc6:cfa2", "2001-b011-380f-3c42-1138-6cd0-3dc6-cfa2.dynamic-ip6.hinet.net"},
		{"ipv6-worst", "2001:db8::1", strings.Repeat("a-", 115) + "a.example.com"},
	}
	for _, c := range cases {
		ip := netip.MustParseAddr(c.ip)
		const rounds = 20000
		for range rounds / 10 { // warm up
			publicsuffix.EffectiveTLDPlusOne(c.name)
		}
		start := time.Now()
		for range rounds {
			publicsuffix.EffectiveTLDPlusOne(c.name)
		}
		psl := float64(time.Since(start).Nanoseconds()) / rounds
		b.Run(c.bench, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Name(ip, c.name)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/psl, "x-psl")
		})
	}
}
