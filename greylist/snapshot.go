package greylist

import (
	"bufio"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"math"
)

// A snapshot lets a single host keep its greylisting history across a
// restart without a database: without one, every correspondent is
// greylisted again after each restart, and pending triplets start over.
// That is worth the small format below; a persistent embedded database
// (bbolt) would cost a dependency and a write per check for the same
// result. Hosts that share a history use Redis instead.
//
// The format, little-endian: the magic line, the number of shards the
// writer had, then for each of its shards the counts of triplet and network
// entries and the entries, and a CRC-32 (IEEE) of all that. Version 2
// writes each triplet with its client network: the shard of a network is
// a hash keyed per Memory, so the loading Memory places every entry in its
// own shard. Version 1 (written before the key) had no network with the
// triplets; ReadFrom still reads it, keeping its network records (the
// auto-allowed networks) and leaving out its triplets, which it cannot
// place: they start over.
const (
	snapshotMagic   = "mtaguard greylist snapshot 2\n"
	snapshotMagicV1 = "mtaguard greylist snapshot 1\n"
)

const (
	netSize    = 8 + 8 + 1               // hi, lo, bits
	netRecSize = netSize + 4 + 8 + 8     // network, count, last, expire
	greyV1Size = 8 + 8 + 8 + 1           // key, first, expire, passed
	greySize   = netSize + 8 + 8 + 8 + 1 // network, key, first, expire, passed
)

var errSnapshot = errors.New("greylist: not a valid snapshot")

// WriteTo writes a snapshot of m to w, for ReadFrom to load, e.g. into a
// new Memory after a restart. Each shard is copied under its lock and
// written after, so checks go on meanwhile; the snapshot is consistent
// shard by shard. WriteTo implements io.WriterTo.
func (m *Memory) WriteTo(w io.Writer) (int64, error) {
	crc := crc32.NewIEEE()
	cw := &countWriter{w: io.MultiWriter(w, crc)}
	buf := make([]byte, 0, 4096)
	buf = append(buf, snapshotMagic...)
	buf = binary.LittleEndian.AppendUint32(buf, numShards)
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		buf = binary.LittleEndian.AppendUint32(buf, uint32(len(sh.grey)))
		buf = binary.LittleEndian.AppendUint32(buf, uint32(len(sh.nets)))
		for _, o := range sh.order[sh.head:] { // oldest first, as ReadFrom adds them
			e := sh.grey[o.k]
			buf = appendNet(buf, o.net)
			buf = binary.LittleEndian.AppendUint64(buf, o.k)
			buf = binary.LittleEndian.AppendUint64(buf, uint64(e.first))
			buf = binary.LittleEndian.AppendUint64(buf, uint64(e.expire()))
			if e.passed() {
				buf = append(buf, 1)
			} else {
				buf = append(buf, 0)
			}
		}
		for k, e := range sh.nets {
			buf = appendNet(buf, k)
			buf = binary.LittleEndian.AppendUint32(buf, uint32(e.count))
			buf = binary.LittleEndian.AppendUint64(buf, uint64(e.last))
			buf = binary.LittleEndian.AppendUint64(buf, uint64(e.expire))
		}
		sh.mu.Unlock()
		if _, err := cw.Write(buf); err != nil {
			return cw.n, err
		}
		buf = buf[:0]
	}
	buf = binary.LittleEndian.AppendUint32(buf, crc.Sum32())
	n, err := w.Write(buf)
	return cw.n + int64(n), err
}

func appendNet(b []byte, k netKey) []byte {
	b = binary.LittleEndian.AppendUint64(b, k.hi)
	b = binary.LittleEndian.AppendUint64(b, k.lo)
	return append(b, k.bits)
}

func readNet(b []byte) netKey {
	return netKey{binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:]), b[16]}
}

// ReadFrom loads a snapshot written by WriteTo into m, merging it with
// what m holds: of two records of one triplet or network, the one that
// expires later is kept, and m's bound still holds. A snapshot that is
// truncated, corrupt or of another format is refused whole, leaving m
// unchanged. ReadFrom implements io.ReaderFrom.
func (m *Memory) ReadFrom(r io.Reader) (int64, error) {
	cr := &countReader{r: bufio.NewReader(r)}
	crc := crc32.NewIEEE()
	in := io.TeeReader(cr, crc)

	head := make([]byte, len(snapshotMagic)+4)
	if _, err := io.ReadFull(in, head); err != nil {
		return cr.n, errSnapshot
	}
	v1 := string(head[:len(snapshotMagic)]) == snapshotMagicV1
	if !v1 && string(head[:len(snapshotMagic)]) != snapshotMagic {
		return cr.n, errSnapshot
	}
	nshards := binary.LittleEndian.Uint32(head[len(snapshotMagic):])
	if nshards != numShards {
		return cr.n, errSnapshot
	}
	type keyed struct {
		o ordered
		e greyEntry
	}
	type staged struct {
		grey []keyed // oldest first
		nets map[netKey]netEntry
	}
	// Staged by the shard each entry has in m, for m's key.
	var shards [numShards]staged
	for i := range shards {
		shards[i].nets = make(map[netKey]netEntry)
	}
	var rec [greySize]byte
	for range nshards {
		if _, err := io.ReadFull(in, rec[:8]); err != nil {
			return cr.n, errSnapshot
		}
		ngrey, nnets := binary.LittleEndian.Uint32(rec[:4]), binary.LittleEndian.Uint32(rec[4:8])
		for range ngrey {
			b := rec[:greySize]
			if v1 {
				b = rec[:greyV1Size]
			}
			if _, err := io.ReadFull(in, b); err != nil {
				return cr.n, errSnapshot
			}
			if v1 {
				// No network to place it by: left out.
				if b[24] > 1 {
					return cr.n, errSnapshot
				}
				continue
			}
			nk := readNet(b)
			b = b[netSize:]
			first, expire := int64(binary.LittleEndian.Uint64(b[8:])), int64(binary.LittleEndian.Uint64(b[16:]))
			if b[24] > 1 || nk.bits > 128 {
				return cr.n, errSnapshot
			}
			st := &shards[m.shardOf(nk)]
			// Sized by what is read, not by the counts, which may lie.
			st.grey = append(st.grey, keyed{ordered{binary.LittleEndian.Uint64(b), nk}, newGrey(first, expire, b[24] == 1)})
		}
		for range nnets {
			b := rec[:netRecSize]
			if _, err := io.ReadFull(in, b); err != nil {
				return cr.n, errSnapshot
			}
			k := readNet(b)
			e := netEntry{
				count:  int32(binary.LittleEndian.Uint32(b[17:])),
				last:   int64(binary.LittleEndian.Uint64(b[21:])),
				expire: int64(binary.LittleEndian.Uint64(b[29:])),
			}
			if k.bits > 128 || e.count < 0 {
				return cr.n, errSnapshot
			}
			shards[m.shardOf(k)].nets[k] = e
		}
	}
	sum := crc.Sum32()
	if _, err := io.ReadFull(cr, rec[:4]); err != nil || binary.LittleEndian.Uint32(rec[:4]) != sum {
		return cr.n, errSnapshot
	}

	// No clock here: nothing counts as expired while loading.
	const noTime = math.MinInt64
	for i := range shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		for _, g := range shards[i].grey {
			switch old, ok := sh.grey[g.o.k]; {
			case !ok:
				m.addGrey(sh, g.o, g.e, noTime)
			case old.expire() < g.e.expire():
				sh.grey[g.o.k] = g.e
			}
		}
		for k, e := range shards[i].nets {
			switch old, ok := sh.nets[k]; {
			case !ok:
				m.addNet(sh, k, e, noTime)
			case old.expire < e.expire:
				sh.nets[k] = e
			}
		}
		sh.mu.Unlock()
	}
	return cr.n, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
