package message

import (
	"bytes"
	"runtime"
	"testing"
)

// bigMessage returns a well-formed message of about size bytes: a usual
// header and base64-like lines of 76 characters.
func bigMessage(size int) []byte {
	var b bytes.Buffer
	b.Grow(size + 1024)
	b.WriteString(goodHeader + "MIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	line := []byte("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n")
	for b.Len() < size {
		b.Write(line)
	}
	return b.Bytes()
}

// BenchmarkInspect measures the check over a 10 MiB message against
// bytes.Count of the line ends over the same buffer, the cheapest pass a
// line-aware check could make: x-count is Inspect's time over it.
func BenchmarkInspect(b *testing.B) {
	msg := bigMessage(10 << 20)
	env := Envelope{MailFrom: "alice@example.org", Rcpts: []string{"bob@example.net"}}
	if f := Inspect(env, msg, arrival, nil); f != 0 {
		b.Fatalf("found %q", f)
	}
	var base float64
	b.Run("bytes.Count", func(b *testing.B) {
		b.SetBytes(int64(len(msg)))
		for i := 0; i < b.N; i++ {
			bytes.Count(msg, []byte{'\n'})
		}
		base = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})
	b.Run("Inspect", func(b *testing.B) {
		b.SetBytes(int64(len(msg)))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			Inspect(env, msg, arrival, nil)
		}
		per := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		if base > 0 {
			b.ReportMetric(per/base, "x-count")
		}
	})
}

// TestNoCopy: the check of a 10 MiB message allocates what a small
// message's check does, give or take, and nothing in proportion to the
// body.
func TestNoCopy(t *testing.T) {
	msg := bigMessage(10 << 20)
	env := Envelope{}
	Inspect(env, msg, arrival, nil)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := 0; i < 5; i++ {
		Inspect(env, msg, arrival, nil)
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / 5; per > 64<<10 {
		t.Errorf("%d bytes allocated per check of a 10 MiB message", per)
	}
}
