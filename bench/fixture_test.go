package bench

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"

	msgdkim "github.com/emersion/go-msgauth/dkim"
)

// The fixture is a border MTA's view of ordinary, legitimate mail: a bulk
// sender's outbound host (FCrDNS name in the sender's domain, listed in SPF
// through the second of two includes, HELO equal to its rDNS name) sending
// a 10 KiB newsletter, DKIM-signed by the organisational domain (relaxed
// alignment), whose DMARC record (p=reject) sits at the organisational
// domain, to one of our users; three DNSBLs that do not list it.
//
// A fixture with several domains repeats the sender's zone for each of
// example.com, example1.com, example2.com, ..., and spreads its clients over
// them (client i sends for domain i mod nDomains).

const (
	rcpt     = "user@example.net" // our user
	receiver = "example.net"      // our domain (relay.Policy.LocalDomains)
	ourHost  = "mx.example.net"   // our host name (helo.Options.LocalNames)
	ttl      = 3600               // of every record; negative answers 300 (SOA)
)

// lists are the three DNSBLs, scored as a postscreen setup would.
var lists = []string{"bl1.example.org", "bl2.example.org", "bl3.example.org"}

// Critical-path depths of the fixture's session, in lookups of latency L,
// for the message with one signature. See BENCHMARKS.md for where they
// come from; TestQueries checks the lookups.
const (
	// Staged: connect 2 (PTR -> A; the DNSBLs beside it) + helo 1
	// (AAAA; the A is fcrdns's, cached) + mail 3 (SPF record -> include
	// -> include; the sender domain's MX and the _dmarc prefetch beside
	// it) + rcpt 0 + data 1 (DKIM key; _dmarc already cached).
	depthStaged = 7
	// All at once: helo after fcrdns (PTR -> A -> AAAA) and SPF
	// (record -> include -> include) are the longest chains; DMARC
	// waits for SPF but its records were prefetched at the start.
	depthAll = 3
	// The baseline's sequence: fcrdns 2 + dnsbl 1 (its lists in parallel)
	// + helo 1 (A and AAAA in parallel) + spf 3 + sender domain 1 +
	// dkim 1 + dmarc 2 (_dmarc at the From domain, then at the
	// organisational domain).
	depthBaseline = 11
)

type client struct {
	ip   netip.Addr
	name string // PTR name, its A record, and the HELO name
	dom  int    // index in fixtureData.domains
}

type domain struct {
	org  string // organisational domain: DKIM d=, DMARC record
	mail string // MAIL FROM and From domain: SPF record, MX
	msg1 []byte // 10 KiB message, one signature (RSA-2048)
	msg2 []byte // msg1 with a second signature (Ed25519)
}

type fixtureData struct {
	zone    string
	clients []client
	domains []domain
}

func (d domain) mailFrom() string { return "bounces@" + d.mail }

// signingKeys are generated once per process: RSA-2048 generation takes
// a while.
var signingKeys = sync.OnceValues(func() (*rsa.PrivateKey, ed25519.PrivateKey) {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	_, ek, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return rk, ek
})

var fixtures sync.Map // [2]int{nClients, nDomains} -> *fixtureData

// getFixture returns the zone and messages of nClients clients of nDomains
// sender domains, made once per process.
func getFixture(tb testing.TB, nClients, nDomains int) *fixtureData {
	tb.Helper()
	key := [2]int{nClients, nDomains}
	if f, ok := fixtures.Load(key); ok {
		return f.(*fixtureData)
	}
	f, err := makeFixture(nClients, nDomains)
	if err != nil {
		tb.Fatal(err)
	}
	actual, _ := fixtures.LoadOrStore(key, f)
	return actual.(*fixtureData)
}

func makeFixture(nClients, nDomains int) (*fixtureData, error) {
	if nClients > 250*250 || nDomains < 1 {
		return nil, fmt.Errorf("fixture of %d clients, %d domains: out of range", nClients, nDomains)
	}
	rk, ek := signingKeys()
	rsaDER, err := x509.MarshalPKIXPublicKey(rk.Public())
	if err != nil {
		return nil, err
	}
	rsaKey := "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(rsaDER)
	edKey := "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(ek.Public().(ed25519.PublicKey))

	f := &fixtureData{}
	var z strings.Builder
	fmt.Fprintf(&z, "$TTL %d\n", ttl)
	soa := func(origin string) {
		fmt.Fprintf(&z, "$ORIGIN %s.\n@ SOA ns.%s. hostmaster.%s. 1 3600 600 86400 300\n", origin, origin, origin)
	}
	for _, l := range lists {
		soa(l)
		z.WriteString("2.0.0.127 A 127.0.0.2\n2.0.0.127 TXT \"RFC 5782 test point\"\n")
	}
	for j := range nDomains {
		org := "example.com"
		if j > 0 {
			org = fmt.Sprintf("example%d.com", j)
		}
		d := domain{org: org, mail: "mail." + org}
		soa(org)
		z.WriteString("@ MX 10 mx\nmx A 192.0.2.10\nmail MX 10 mx\n")
		fmt.Fprintf(&z, "mail TXT \"v=spf1 include:_spf1.%s include:_spf2.%s -all\"\n", org, org)
		z.WriteString("_spf1 TXT \"v=spf1 ip4:192.0.2.0/24 ip6:2001:db8:1::/48 -all\"\n")
		z.WriteString("_spf2 TXT \"v=spf1 ip4:198.18.0.0/15 -all\"\n")
		fmt.Fprintf(&z, "_dmarc TXT \"v=DMARC1; p=reject; rua=mailto:dmarc-reports@%s\"\n", org)
		z.WriteString(txtRecord("rsa._domainkey", rsaKey))
		z.WriteString(txtRecord("ed._domainkey", edKey))
		if d.msg1, err = signMessage(message(d, j), org, "rsa", rk); err != nil {
			return nil, err
		}
		if d.msg2, err = signMessage(d.msg1, org, "ed", ek); err != nil {
			return nil, err
		}
		f.domains = append(f.domains, d)
	}
	// Clients: 198.18.0.0/15 (RFC 2544), named mta<i>.mail.<org>.
	for i := range nClients {
		c := client{
			ip:  netip.AddrFrom4([4]byte{198, 18, byte(1 + i/250), byte(1 + i%250)}),
			dom: i % nDomains,
		}
		c.name = fmt.Sprintf("mta%d.%s", i, f.domains[c.dom].mail)
		fmt.Fprintf(&z, "%s. A %s\n", c.name, c.ip)
		f.clients = append(f.clients, c)
	}
	soa("18.198.in-addr.arpa")
	for _, c := range f.clients {
		b := c.ip.As4()
		fmt.Fprintf(&z, "%d.%d PTR %s.\n", b[3], b[2], c.name)
	}
	f.zone = z.String()
	return f, nil
}

// txtRecord writes a TXT record in strings of at most 255 bytes.
func txtRecord(name, txt string) string {
	var b strings.Builder
	b.WriteString(name + " TXT")
	for len(txt) > 0 {
		n := min(len(txt), 250)
		b.WriteString(` "` + txt[:n] + `"`)
		txt = txt[n:]
	}
	return b.String() + "\n"
}

// messageSize is the size of the unsigned message.
const messageSize = 10 << 10

// message returns a 10 KiB plain-text newsletter from d.
func message(d domain, j int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: Example Shop <news@%s>\r\n", d.mail)
	fmt.Fprintf(&b, "To: <%s>\r\n", rcpt)
	b.WriteString("Subject: Your weekly digest\r\n")
	b.WriteString("Date: Mon, 02 Nov 2026 10:00:00 +0000\r\n")
	fmt.Fprintf(&b, "Message-ID: <digest-%d@%s>\r\n", j, d.mail)
	b.WriteString("MIME-Version: 1.0\r\n")
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\n\r\n")
	words := strings.Fields("the quick brown fox jumps over a lazy dog while our weekly " +
		"digest brings you news offers and updates from the shop you subscribed to")
	line, n := 0, 0
	for b.Len() < messageSize-80 {
		b.WriteString(words[n%len(words)])
		n++
		if line++; line%12 == 0 {
			b.WriteString(".\r\n")
		} else {
			b.WriteByte(' ')
		}
	}
	b.WriteString("\r\n-- \r\nUnsubscribe: https://" + d.mail + "/u\r\n")
	return b.Bytes()
}

// signMessage adds a relaxed/relaxed DKIM-Signature of d=domain, s=selector.
func signMessage(msg []byte, domain, selector string, k crypto.Signer) ([]byte, error) {
	var out bytes.Buffer
	err := msgdkim.Sign(&out, bytes.NewReader(msg), &msgdkim.SignOptions{
		Domain:                 domain,
		Selector:               selector,
		Signer:                 k,
		Hash:                   crypto.SHA256,
		HeaderCanonicalization: msgdkim.CanonicalizationRelaxed,
		BodyCanonicalization:   msgdkim.CanonicalizationRelaxed,
		HeaderKeys:             []string{"From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type"},
	})
	return out.Bytes(), err
}
