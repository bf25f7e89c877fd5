package screen

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// ProxyHeader is what a PROXY protocol header says about a connection.
type ProxyHeader struct {
	// Source and Dest are the client's and the proxy's listening
	// addresses. They are zero when Local is true.
	Source, Dest netip.AddrPort
	// Local: the proxy opened the connection for itself (a health check:
	// v1 "UNKNOWN", v2 LOCAL or an unspecified family); the connection's
	// own addresses apply.
	Local bool
}

// Bounds of the PROXY protocol headers read: version 1 lines are at most
// 107 bytes (the specification's own bound); version 2 allows 65535
// bytes of addresses and TLVs, far more than any proxy sends, so the
// reader refuses more than maxProxyV2.
const (
	maxProxyV1 = 107
	maxProxyV2 = 2048
)

var (
	proxyV2Sig = []byte("\r\n\r\n\x00\r\nQUIT\n")
	// ErrProxyHeader is the error of a header that is not a valid PROXY
	// protocol header of version 1 or 2.
	ErrProxyHeader = errors.New("screen: bad PROXY protocol header")
)

// ReadProxyHeader reads a PROXY protocol header (version 1 or 2, as the
// HAProxy specification defines them) from the start of r, and nothing
// beyond it. It reads at most 107 bytes of a version 1 header and 2064 of
// a version 2 one; the caller bounds the time with a read deadline.
// Version 2's TLVs are skipped; its UDP and UNIX families are an error.
func ReadProxyHeader(r *bufio.Reader) (ProxyHeader, error) {
	b, err := r.Peek(1)
	if err != nil {
		return ProxyHeader{}, err
	}
	switch b[0] {
	case 'P':
		return readProxyV1(r)
	case '\r':
		return readProxyV2(r)
	}
	return ProxyHeader{}, ErrProxyHeader
}

func readProxyV1(r *bufio.Reader) (ProxyHeader, error) {
	line := make([]byte, 0, maxProxyV1)
	for {
		c, err := r.ReadByte()
		if err != nil {
			return ProxyHeader{}, unexpected(err)
		}
		line = append(line, c)
		if c == '\n' {
			break
		}
		if len(line) == maxProxyV1 {
			return ProxyHeader{}, ErrProxyHeader
		}
	}
	s, ok := strings.CutSuffix(string(line), "\r\n")
	if !ok {
		return ProxyHeader{}, ErrProxyHeader
	}
	f := strings.Split(s, " ")
	if len(f) < 2 || f[0] != "PROXY" {
		return ProxyHeader{}, ErrProxyHeader
	}
	if f[1] == "UNKNOWN" {
		// The rest of the line is to be ignored.
		return ProxyHeader{Local: true}, nil
	}
	if len(f) != 6 || f[1] != "TCP4" && f[1] != "TCP6" {
		return ProxyHeader{}, ErrProxyHeader
	}
	src, err1 := netip.ParseAddr(f[2])
	dst, err2 := netip.ParseAddr(f[3])
	sp, ok1 := port(f[4])
	dp, ok2 := port(f[5])
	if err1 != nil || err2 != nil || !ok1 || !ok2 || src.Zone() != "" || dst.Zone() != "" {
		return ProxyHeader{}, ErrProxyHeader
	}
	if want4 := f[1] == "TCP4"; src.Is4() != want4 || dst.Is4() != want4 {
		return ProxyHeader{}, ErrProxyHeader
	}
	return ProxyHeader{Source: netip.AddrPortFrom(src, sp), Dest: netip.AddrPortFrom(dst, dp)}, nil
}

// port parses a decimal port without sign or leading zeros.
func port(s string) (uint16, bool) {
	if s == "" || len(s) > 5 || len(s) > 1 && s[0] == '0' || s[0] < '0' || s[0] > '9' {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 16)
	return uint16(n), err == nil
}

func readProxyV2(r *bufio.Reader) (ProxyHeader, error) {
	var hdr [16]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return ProxyHeader{}, unexpected(err)
	}
	if !bytes.Equal(hdr[:12], proxyV2Sig) || hdr[12]>>4 != 2 {
		return ProxyHeader{}, ErrProxyHeader
	}
	cmd, fam := hdr[12]&0xf, hdr[13]
	n := int(binary.BigEndian.Uint16(hdr[14:]))
	if cmd > 1 || n > maxProxyV2 {
		return ProxyHeader{}, ErrProxyHeader
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return ProxyHeader{}, unexpected(err)
	}
	if cmd == 0 {
		return ProxyHeader{Local: true}, nil // LOCAL: addresses ignored
	}
	switch fam {
	case 0x00:
		return ProxyHeader{Local: true}, nil // UNSPEC
	case 0x11: // TCP over IPv4
		if n < 12 {
			return ProxyHeader{}, ErrProxyHeader
		}
		src := netip.AddrFrom4([4]byte(body[0:4]))
		dst := netip.AddrFrom4([4]byte(body[4:8]))
		return ProxyHeader{
			Source: netip.AddrPortFrom(src, binary.BigEndian.Uint16(body[8:])),
			Dest:   netip.AddrPortFrom(dst, binary.BigEndian.Uint16(body[10:])),
		}, nil
	case 0x21: // TCP over IPv6
		if n < 36 {
			return ProxyHeader{}, ErrProxyHeader
		}
		src := netip.AddrFrom16([16]byte(body[0:16])).Unmap()
		dst := netip.AddrFrom16([16]byte(body[16:32])).Unmap()
		return ProxyHeader{
			Source: netip.AddrPortFrom(src, binary.BigEndian.Uint16(body[32:])),
			Dest:   netip.AddrPortFrom(dst, binary.BigEndian.Uint16(body[34:])),
		}, nil
	}
	return ProxyHeader{}, ErrProxyHeader
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
