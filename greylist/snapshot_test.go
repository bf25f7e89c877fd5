package greylist

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"net/netip"
	"testing"
	"time"
)

// TestSnapshot: a Memory loaded from a snapshot continues the history of
// the one saved, with pending, passed and auto-allow records intact.
func TestSnapshot(t *testing.T) {
	ctx := context.Background()
	o := &Options{AutoAllow: 2}
	a := NewMemory()
	pending := Triplet{IP: netip.MustParseAddr("192.0.2.1"), From: "p@example.com", Rcpt: rcp}
	passed := Triplet{IP: netip.MustParseAddr("198.51.100.1"), From: "q@example.com", Rcpt: rcp}
	allowed := netip.MustParseAddr("203.0.113.1")
	Check(ctx, a, pending, t0, o)
	Check(ctx, a, passed, t0, o)
	Check(ctx, a, passed, t0.Add(10*time.Minute), o)
	for i, from := range []string{"x@example.com", "y@example.com"} {
		tr := Triplet{IP: allowed, From: from, Rcpt: rcp}
		Check(ctx, a, tr, t0.Add(time.Duration(i)*2*time.Hour), o)
		Check(ctx, a, tr, t0.Add(time.Duration(i)*2*time.Hour+10*time.Minute), o)
	}

	var buf bytes.Buffer
	n, err := a.WriteTo(&buf)
	if err != nil || n != int64(buf.Len()) {
		t.Fatalf("WriteTo = %d, %v (wrote %d)", n, err, buf.Len())
	}
	b := NewMemory()
	if n, err := b.ReadFrom(bytes.NewReader(buf.Bytes())); err != nil || n != int64(buf.Len()) {
		t.Fatalf("ReadFrom = %d, %v", n, err)
	}
	if a.Len() != b.Len() || b.Len() != 6 {
		t.Errorf("Len %d, %d", a.Len(), b.Len())
	}
	later := t0.Add(5 * time.Hour)
	for _, c := range []struct {
		tr   Triplet
		want string
	}{
		{pending, "passed greylisting after 18000s"}, // first sighting kept
		{passed, "known triplet"},
		{Triplet{IP: allowed, From: "new@example.com", Rcpt: rcp}, "client network auto-allowed"},
	} {
		if r := Check(ctx, b, c.tr, later, o); r.Reason != c.want {
			t.Errorf("%v: %q, want %q", c.tr, r.Reason, c.want)
		}
	}
}

func TestSnapshotCorrupt(t *testing.T) {
	ctx := context.Background()
	a := NewMemory()
	for i := range 100 {
		a.Observe(ctx, key(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), i), t0, resolve(nil).rules)
	}
	var buf bytes.Buffer
	a.WriteTo(&buf)
	good := buf.Bytes()
	for _, c := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"other format", []byte("hello, world\n")},
		{"truncated", good[:len(good)-1]},
		{"truncated early", good[:len(snapshotMagic)+10]},
		{"bit flipped", flip(good, len(good)/2)},
		{"bad trailer", flip(good, len(good)-1)},
	} {
		b := NewMemory()
		b.Observe(ctx, key(netip.MustParseAddr("192.0.2.1"), 1), t0, resolve(nil).rules)
		if _, err := b.ReadFrom(bytes.NewReader(c.data)); err == nil {
			t.Errorf("%s: no error", c.name)
		}
		if b.Len() != 1 {
			t.Errorf("%s: store changed to %d entries", c.name, b.Len())
		}
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x10
	return c
}

// TestSnapshotMerge: loading keeps the later of two records, and the bound.
func TestSnapshotMerge(t *testing.T) {
	ctx := context.Background()
	r := resolve(nil).rules
	k := key(netip.MustParseAddr("192.0.2.1"), 1)
	a, b := NewMemory(), NewMemory()
	a.Observe(ctx, k, t0, r)                     // pending, expires t0+2d
	b.Observe(ctx, k, t0, r)                     //
	b.Observe(ctx, k, t0.Add(10*time.Minute), r) // passed, expires t0+35d
	var buf bytes.Buffer
	a.WriteTo(&buf)
	b.ReadFrom(&buf)
	if o, _ := b.Observe(ctx, k, t0.Add(11*time.Minute), r); o.State != Known {
		t.Errorf("older record won: %v", o.State)
	}

	big := NewMemory()
	for i := range 5000 {
		big.Observe(ctx, key(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), i), t0, r)
	}
	buf.Reset()
	big.WriteTo(&buf)
	small := NewMemorySize(640)
	if _, err := small.ReadFrom(&buf); err != nil {
		t.Fatal(err)
	}
	if small.Len() > 640 {
		t.Errorf("loaded %d entries into a store of 640", small.Len())
	}
}

// FuzzReadFrom: ReadFrom refuses what is not a snapshot whole, or loads it
// within the bound; it never panics.
func FuzzReadFrom(f *testing.F) {
	m := NewMemory()
	ctx := context.Background()
	r := resolve(&Options{AutoAllow: 1}).rules
	for i := range 3 {
		k := key(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), i)
		m.Observe(ctx, k, t0, r)
		m.Observe(ctx, k, t0.Add(time.Hour), r)
	}
	var buf bytes.Buffer
	m.WriteTo(&buf)
	f.Add(buf.Bytes(), false)
	f.Add(buf.Bytes(), true)
	f.Add([]byte(snapshotMagic), true)
	f.Add([]byte{}, false)
	f.Fuzz(func(t *testing.T, data []byte, fixCRC bool) {
		// With fixCRC the trailer is made to match, so that the
		// fuzzer gets past the checksum to the records.
		if fixCRC && len(data) >= 4 {
			data = bytes.Clone(data)
			binary.LittleEndian.PutUint32(data[len(data)-4:], crc32.ChecksumIEEE(data[:len(data)-4]))
		}
		s := NewMemorySize(128)
		if _, err := s.ReadFrom(bytes.NewReader(data)); err != nil {
			if s.Len() != 0 {
				t.Fatalf("failed load left %d entries", s.Len())
			}
			return
		}
		if s.Len() > 128 {
			t.Fatalf("%d entries", s.Len())
		}
		var out bytes.Buffer
		if _, err := s.WriteTo(&out); err != nil {
			t.Fatal(err)
		}
		if _, err := NewMemorySize(128).ReadFrom(&out); err != nil {
			t.Fatalf("own snapshot refused: %v", err)
		}
	})
}

// TestSnapshotVersion1: a snapshot of the format before the keyed shards
// still loads: its network records (the auto-allowed networks) are kept,
// its triplets, which carry no network to place them by, start over.
func TestSnapshotVersion1(t *testing.T) {
	ctx := context.Background()
	r := resolve(&Options{AutoAllow: 1}).rules
	allowed := netKeyOf(netip.MustParsePrefix("192.0.2.0/24"))
	b := []byte(snapshotMagicV1)
	b = binary.LittleEndian.AppendUint32(b, numShards)
	for i := range numShards {
		ngrey, nnets := 0, 0
		if i == 0 {
			ngrey = 1
		}
		if i == 1 {
			nnets = 1
		}
		b = binary.LittleEndian.AppendUint32(b, uint32(ngrey))
		b = binary.LittleEndian.AppendUint32(b, uint32(nnets))
		for range ngrey {
			b = binary.LittleEndian.AppendUint64(b, 0x1234)
			b = binary.LittleEndian.AppendUint64(b, uint64(t0.UnixMilli()))
			b = binary.LittleEndian.AppendUint64(b, uint64(t0.Add(time.Hour).UnixMilli()))
			b = append(b, 1)
		}
		for range nnets {
			b = appendNet(b, allowed)
			b = binary.LittleEndian.AppendUint32(b, 1)
			b = binary.LittleEndian.AppendUint64(b, uint64(t0.UnixMilli()))
			b = binary.LittleEndian.AppendUint64(b, uint64(t0.Add(time.Hour).UnixMilli()))
		}
	}
	b = binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
	m := NewMemory()
	if _, err := m.ReadFrom(bytes.NewReader(b)); err != nil {
		t.Fatalf("version 1 refused: %v", err)
	}
	if n := m.Len(); n != 1 {
		t.Errorf("%d entries loaded, want the network record alone", n)
	}
	if o, _ := m.Observe(ctx, key(netip.MustParseAddr("192.0.2.9"), 1), t0.Add(time.Minute), r); o.State != AutoAllowed {
		t.Errorf("network of a version 1 snapshot: %v, want auto-allowed", o.State)
	}
}
