package relay_test

import (
	"crypto/x509"
	"fmt"
	"net/netip"
	"strings"

	"github.com/mtaguard/mtaguard/relay"
)

func ExampleCheck() {
	p := &relay.Policy{
		LocalDomains: []string{"example.org"},
		TrustedNets:  []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
	}
	client := netip.MustParseAddr("203.0.113.5")
	for _, rcpt := range []string{
		"alice@example.org",
		"alice@example.net",
		"alice%example.net@example.org",
		"<@example.org:alice@example.net>",
		"alice@evilexample.org",
	} {
		r := relay.Check(p, relay.Envelope{IP: client, MailFrom: "bob@example.net", Rcpt: rcpt})
		fmt.Printf("%-34s %v %d %s\n", rcpt, r.Action, r.Code, r.Reason)
	}
	// Output:
	// alice@example.org                  accept 0 local domain
	// alice@example.net                  reject 554 Relay access denied
	// alice%example.net@example.org      reject 554 Relay access denied
	// <@example.org:alice@example.net>   reject 554 Relay access denied
	// alice@evilexample.org              reject 554 Relay access denied
}

func ExampleBorder() {
	message := "Received: from border.example.org (border.example.org [10.0.0.1])\r\n" +
		"\tby filter.example.org (Postfix) with ESMTP id 4AAA0001; Mon, 1 Dec 2025 10:00:05 +0000\r\n" +
		"Received: from mail.example.net (mail.example.net [203.0.113.5])\r\n" +
		"\tby border.example.org (Postfix) with ESMTPS id 4ABC123; Mon, 1 Dec 2025 10:00:00 +0000\r\n" +
		"Received: from forged.example (forged.example [198.51.100.99]) by x; Mon, 1 Dec 2025\r\n" +
		"Subject: hello\r\n\r\nbody\r\n"
	ours := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	hop, err := relay.Border(strings.NewReader(message), ours)
	fmt.Println(hop.IP, hop.HELO, err)
	// Output: 203.0.113.5 mail.example.net <nil>
}

func ExampleFingerprint() {
	// A server permits relay to the holder of a known client certificate
	// (Postfix's permit_tls_clientcerts). On a real server the certificate
	// is tls.ConnectionState.PeerCertificates[0].
	cert := &x509.Certificate{Raw: []byte("the certificate's DER encoding")}
	c := relay.New(&relay.Policy{
		LocalDomains: []string{"example.org"},
		ClientCerts:  []string{relay.Fingerprint(cert)},
	})
	client := netip.MustParseAddr("203.0.113.5")
	for _, fp := range []string{relay.Fingerprint(cert), ""} {
		r := c.Evaluate(relay.Envelope{IP: client, TLS: true, ClientCert: fp, MailFrom: "a@example.org", Rcpt: "b@example.net"})
		fmt.Println(r.Action, r.Code, r.Reason)
	}
	// Output:
	// accept 0 trusted client certificate may relay
	// reject 550 Sender address rejected: not logged in
}
