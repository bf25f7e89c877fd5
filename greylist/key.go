package greylist

import (
	"bytes"
	"crypto/sha256"
	"net/netip"

	"github.com/mtaguard/mtaguard/internal/address"
)

// keyDomain separates the triplet digests of this scheme from any other
// use of SHA-256, and names its version: a change to the normalisation
// below must change it, or stores would mix incompatible keys. It is short
// so that a typical triplet fits in two SHA-256 blocks.
const keyDomain = "mtg-gl1\x00"

// makeKey returns the Store key of a triplet: the client network, and a
// SHA-256 digest (truncated to 128 bits) of the network, the normalised
// sender and the normalised recipient.
//
// A digest rather than the addresses: stores then hold no addresses (as
// postgrey's --privacy), every key has the same small size whatever the
// client sent, and, unlike a fast non-cryptographic hash, a sender cannot
// choose addresses whose key collides with a triplet that already passed.
// The digest is deterministic, so hosts sharing a Redis agree on it and
// a Memory snapshot stays valid across restarts.
func makeKey(ip netip.Addr, from, rcpt string, bits4, bits6 int) Key {
	bits := bits4
	if ip.Is6() {
		bits = bits6
	}
	net := netip.PrefixFrom(ip, bits).Masked()
	var buf [512]byte
	b := append(buf[:0], keyDomain...)
	a := net.Addr().As16()
	b = append(b, a[:]...)
	b = append(b, byte(net.Bits()))
	if ip.Is4() {
		b = append(b, 4)
	} else {
		b = append(b, 6)
	}
	b = appendSender(b, from)
	b = append(b, 0)
	b = appendRecipient(b, rcpt)
	sum := sha256.Sum256(b)
	k := Key{Net: net}
	copy(k.Triplet[:], sum[:])
	return k
}

// appendSender appends the envelope sender in the form that makes the
// retries of one message, and the messages of one sender, the same
// triplet, as postgrey does:
//
//   - the whole address lower-cased, angle brackets, a source route and
//     one trailing dot of the domain removed (internal/address: the
//     domain is after the last '@' outside a quoted local part); the null
//     sender is "<>";
//   - BATV tags removed: prvs=TAG=user and prvs=user=TAG (the
//     draft-levine-smtp-batv tag, a digit, three digits, six hex digits),
//     msprvs1=TAG=user, btv1==TAG==user;
//   - SRS hashes and timestamps replaced by '#':
//     SRS0=HHH=TT=domain=user becomes srs0=#=#=domain=user, and SRS1 the
//     same way, so one forwarder's mail from one original sender is one
//     triplet;
//   - a "+extension" removed (user+list-123 becomes user);
//   - numbers that stand alone between non-word characters (VERP
//     bounce-123-456) replaced by '#', while user123 stays.
func appendSender(dst []byte, s string) []byte {
	s = trimBrackets(s)
	if s == "" {
		return append(dst, "<>"...)
	}
	l, d, at := address.Split(s)
	if !at {
		l = s
	}
	var scratch [256]byte
	low := appendLower(scratch[:0], l)
	n := len(low)
	low = appendLower(low, d)
	local, domain := low[:n:n], bytes.TrimSuffix(low[n:], []byte("."))
	local = stripBATV(local)
	if folded, ok := foldSRS(nil, local); ok {
		local = folded
	}
	if plus := bytes.IndexByte(local, '+'); plus >= 0 {
		local = local[:plus]
	}
	dst = appendVERP(dst, local)
	if at {
		dst = append(dst, '@')
		dst = append(dst, domain...)
	}
	return dst
}

// appendRecipient appends the recipient lower-cased, without angle
// brackets and one trailing dot. Its extension is kept: user+a and user+b
// may be different mailboxes.
func appendRecipient(dst []byte, s string) []byte {
	s = trimBrackets(s)
	start := len(dst)
	dst = appendLower(dst, s)
	if len(dst) > start && dst[len(dst)-1] == '.' {
		dst = dst[:len(dst)-1]
	}
	return dst
}

func trimBrackets(s string) string {
	if len(s) >= 2 && s[0] == '<' && s[len(s)-1] == '>' {
		return s[1 : len(s)-1]
	}
	return s
}

// appendLower appends s with ASCII letters lower-cased. Other bytes,
// UTF-8 included, are kept: the retries of a message repeat them exactly.
func appendLower(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// stripBATV removes a BATV (Bounce Address Tag Validation) tag from a
// lower-cased local part.
func stripBATV(local []byte) []byte {
	var tagged []byte
	switch {
	case bytes.HasPrefix(local, []byte("btv1==")):
		rest := local[len("btv1=="):]
		if i := bytes.Index(rest, []byte("==")); i >= 0 {
			return rest[i+2:]
		}
		return local
	case bytes.HasPrefix(local, []byte("prvs=")):
		tagged = local[len("prvs="):]
	case bytes.HasPrefix(local, []byte("msprvs1=")):
		tagged = local[len("msprvs1="):]
	default:
		return local
	}
	first, rest, ok := bytes.Cut(tagged, []byte("="))
	if !ok || len(rest) == 0 {
		return local
	}
	if !isBATVTag(first) {
		if i := bytes.LastIndexByte(tagged, '='); isBATVTag(tagged[i+1:]) {
			return tagged[:i] // prvs=user=TAG
		}
	}
	return rest
}

// isBATVTag reports whether b is a prvs tag-val: a key digit, a three-digit
// day and six hex digits (draft-levine-smtp-batv-01 §4.1).
func isBATVTag(b []byte) bool {
	if len(b) != 10 {
		return false
	}
	for i, c := range b {
		digit := '0' <= c && c <= '9'
		if i < 4 && !digit || i >= 4 && !digit && !('a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// foldSRS appends to dst the local part of a Sender Rewriting Scheme
// address with its hashes and timestamps replaced by '#'.
//
//	SRS0=HHH=TT=domain=local              -> srs0=#=#=domain=local
//	SRS1=HHH=forwarder==HHH=TT=domain=local -> srs1=#=forwarder==#=#=domain=local
func foldSRS(dst, local []byte) ([]byte, bool) {
	if len(local) < 5 || local[0] != 's' || local[1] != 'r' || local[2] != 's' ||
		local[3] != '0' && local[3] != '1' || local[4] != '=' && local[4] != '+' && local[4] != '-' {
		return nil, false
	}
	kind, rest := local[3], local[5:]
	if kind == '1' {
		_, rest, ok := bytes.Cut(rest, []byte("="))
		if !ok {
			return nil, false
		}
		fwd, inner, ok := bytes.Cut(rest, []byte("=="))
		if !ok {
			return nil, false
		}
		dst = append(dst, "srs1=#="...)
		dst = append(dst, fwd...)
		dst = append(dst, "=="...)
		return appendSRS0Tail(dst, inner)
	}
	dst = append(dst, "srs0="...)
	return appendSRS0Tail(dst, rest)
}

// appendSRS0Tail appends "#=#=domain=local" for "HHH=TT=domain=local".
func appendSRS0Tail(dst, rest []byte) ([]byte, bool) {
	_, rest, ok1 := bytes.Cut(rest, []byte("="))
	_, rest, ok2 := bytes.Cut(rest, []byte("="))
	if !ok1 || !ok2 || bytes.IndexByte(rest, '=') < 0 {
		return nil, false
	}
	dst = append(dst, "#=#="...)
	return append(dst, rest...), true
}

// appendVERP appends local with every run of digits that stands between
// non-word characters (or the ends) replaced by '#', as postgrey's
// s/\b\d+\b/#/g.
func appendVERP(dst, local []byte) []byte {
	for i := 0; i < len(local); {
		c := local[i]
		if c < '0' || c > '9' {
			dst = append(dst, c)
			i++
			continue
		}
		j := i
		for j < len(local) && '0' <= local[j] && local[j] <= '9' {
			j++
		}
		if (i == 0 || !isWord(local[i-1])) && (j == len(local) || !isWord(local[j])) {
			dst = append(dst, '#')
		} else {
			dst = append(dst, local[i:j]...)
		}
		i = j
	}
	return dst
}

func isWord(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
}
