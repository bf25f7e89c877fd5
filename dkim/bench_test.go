package dkim

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"io"
	"strings"
	"testing"
	"time"

	msgdkim "github.com/emersion/go-msgauth/dkim"

	"github.com/mtaguard/mtaguard/resolver/resolvertest"
	"github.com/mtaguard/mtaguard/verdict"
)

// BenchmarkVerify measures verification of a 1 MiB message in MB/s, next
// to crypto/sha256 over the same bytes: DKIM hashes the canonicalized body
// with SHA-256 once per signature, so SHA-256 is the bound to compare with.
// Each DKIM sub-benchmark also reports "x-sha256", its time per message
// divided by SHA-256's time over the same bytes in the same run.
func BenchmarkVerify(b *testing.B) {
	const size = 1 << 20
	k := keys()
	r := resolvertest.MustNew(keyRecord(b, "ed", "example.org", k["ed25519"]) + keyRecord(b, "big", "example.org", k["rsa2048"]))
	header := testMessage[:strings.Index(testMessage, "\r\n\r\n")+4]
	body, err := io.ReadAll(io.LimitReader(&endless{}, size-int64(len(header))))
	if err != nil {
		b.Fatal(err)
	}
	unsigned := header + string(body)

	// SHA-256 time per message, measured here so that each sub-benchmark
	// can report its ratio to it.
	msg := []byte(unsigned)
	start := time.Now()
	const rounds = 50
	for range rounds {
		sha256.Sum256(msg)
	}
	shaPerOp := float64(time.Since(start).Nanoseconds()) / rounds

	b.Run("sha256", func(b *testing.B) {
		b.SetBytes(int64(len(msg)))
		for b.Loop() {
			sha256.Sum256(msg)
		}
	})
	for _, c := range []struct {
		name string
		o    msgdkim.SignOptions
		sigs int
	}{
		{"ed25519-relaxed", msgdkim.SignOptions{Selector: "ed", Signer: k["ed25519"], BodyCanonicalization: msgdkim.CanonicalizationRelaxed}, 1},
		{"ed25519-simple", msgdkim.SignOptions{Selector: "ed", Signer: k["ed25519"]}, 1},
		{"rsa2048-relaxed", msgdkim.SignOptions{Selector: "big", Signer: k["rsa2048"], BodyCanonicalization: msgdkim.CanonicalizationRelaxed}, 1},
		{"ed25519-relaxed-x3", msgdkim.SignOptions{Selector: "ed", Signer: k["ed25519"], BodyCanonicalization: msgdkim.CanonicalizationRelaxed}, 3},
	} {
		c.o.Domain = "example.org"
		c.o.Hash = crypto.SHA256
		message := unsigned
		for range c.sigs {
			message = sign(b, message, &c.o)
		}
		m := []byte(message)
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(m)))
			for b.Loop() {
				if res := Check(context.Background(), r, bytes.NewReader(m)); res.Status != verdict.Pass {
					b.Fatal(res.Reason)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/shaPerOp, "x-sha256")
		})
	}
}
