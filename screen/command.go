package screen

import (
	"bufio"
	"errors"
)

// MaxLine is the longest command line the screen reads: RFC 5321
// §4.5.3.1.4 allows 512 octets, extensions (SMTPUTF8, AUTH) more.
const MaxLine = 2048

var errLineTooLong = errors.New("screen: command line too long")

// readCommand reads one command line from r and returns it without its
// line end, saying whether that was a bare LF. A line of more than MaxLine
// bytes is read to its end but not kept (the caller bounds the time with
// a read deadline): its first MaxLine bytes are returned with
// errLineTooLong. At the end of input, the partial line is returned with
// the read error.
func readCommand(r *bufio.Reader) (line []byte, bareLF bool, err error) {
	long := false
	for {
		b, err := r.ReadSlice('\n')
		if !long {
			if len(line)+len(b) > MaxLine+2 {
				long = true
				line = append(line, b[:max(0, MaxLine-len(line))]...)
			} else {
				line = append(line, b...)
			}
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return line, false, err
		}
		break
	}
	n := len(line)
	switch {
	case long:
		return line[:min(n, MaxLine)], false, errLineTooLong
	case n >= 2 && line[n-2] == '\r':
		line = line[:n-2]
	default:
		line, bareLF = line[:n-1], true
	}
	if len(line) > MaxLine {
		return line[:MaxLine], bareLF, errLineTooLong
	}
	return line, bareLF, nil
}
