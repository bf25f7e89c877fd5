// Package spamd asks SpamAssassin's spamd how spammy a message is, over
// the spamd protocol (the one spamc speaks: CHECK, SYMBOLS or REPORT), and
// turns the score and the required score into a verdict.Result.
//
// SpamAssassin only scores; what to do with the score is the site's choice
// (its own default is to mark spam and deliver it). So the Checker passes
// SpamAssassin's score on as the result's Score, for the policy's
// thresholds to weigh with the other checks, and demands nothing by
// itself unless Options.RejectScore is set. SpamAssassin's scale (5 is
// spam) is close to the one of the other checks of this module (6 is the
// example policy's quarantine threshold); a policy can rescale it with
// its Weights.
package spamd

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Command is a spamd request that scores a message.
type Command string

// The commands the Checker can send. All three give the score and the
// required score; SYMBOLS adds the names of the rules that matched, REPORT
// SpamAssassin's human-readable report.
const (
	Check   Command = "CHECK"
	Symbols Command = "SYMBOLS"
	Report  Command = "REPORT"
)

// MaxBody bounds the body of a response read (the symbols or the report).
const MaxBody = 64 << 10

// maxLine bounds a response line.
const maxLine = 1024

// Response is spamd's answer to one request.
type Response struct {
	Spam     bool     // the score is at least the required score
	Score    float64  // the message's score
	Required float64  // the user's required_score
	Symbols  []string // with SYMBOLS: the rules that matched
	Report   string   // with REPORT: the report text
}

// ErrorResponse is spamd's refusal of a request: a response line with a
// code other than 0 (EX_OK), one of the sysexits.h codes.
type ErrorResponse struct {
	Code    int
	Message string // printable
}

func (e *ErrorResponse) Error() string {
	return fmt.Sprintf("spamd: error %d: %s", e.Code, e.Message)
}

// WriteRequest writes a request for cmd on message to w, in protocol
// version 1.5. user, if not empty, names the user whose preferences spamd
// applies.
func WriteRequest(w io.Writer, cmd Command, user string, message []byte) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s SPAMC/1.5\r\nContent-length: %d\r\n", cmd, len(message))
	if user != "" {
		fmt.Fprintf(&b, "User: %s\r\n", clean(user))
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	_, err := w.Write(message)
	return err
}

// ReadResponse reads spamd's response to a request for cmd.
func ReadResponse(r *bufio.Reader, cmd Command) (*Response, error) {
	line, err := readLine(r)
	if err != nil {
		return nil, fmt.Errorf("spamd: reading the response: %w", err)
	}
	// SPAMD/1.1 0 EX_OK
	proto, rest, _ := strings.Cut(line, " ")
	if !strings.HasPrefix(proto, "SPAMD/") {
		return nil, fmt.Errorf("spamd: not a spamd response: %q", clean(line))
	}
	codeText, msg, _ := strings.Cut(rest, " ")
	code, err := strconv.Atoi(codeText)
	if err != nil || code < 0 {
		return nil, fmt.Errorf("spamd: bad response line %q", clean(line))
	}
	if code != 0 {
		return nil, &ErrorResponse{Code: code, Message: clean(msg)}
	}
	resp := &Response{}
	length, sawSpam := -1, false
	for {
		line, err := readLine(r)
		if err != nil {
			return nil, fmt.Errorf("spamd: reading the response headers: %w", err)
		}
		if line == "" {
			break
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("spamd: bad response header %q", clean(line))
		}
		value = strings.TrimSpace(value)
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "content-length":
			n, err := strconv.Atoi(value)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("spamd: bad Content-length %q", clean(value))
			}
			length = n
		case "spam":
			if err := parseSpam(value, resp); err != nil {
				return nil, err
			}
			sawSpam = true
		}
	}
	if !sawSpam {
		return nil, errors.New("spamd: response without a Spam header")
	}
	if cmd == Check {
		return resp, nil
	}
	body, err := readBody(r, length)
	if err != nil {
		return nil, err
	}
	switch cmd {
	case Symbols:
		for _, s := range strings.Split(strings.TrimSpace(body), ",") {
			if s = strings.TrimSpace(s); s != "" {
				resp.Symbols = append(resp.Symbols, clean(s))
			}
		}
	case Report:
		resp.Report = body
	}
	return resp, nil
}

// parseSpam reads the value of the Spam header: "True ; 1003.3 / 5.0".
func parseSpam(v string, resp *Response) error {
	flag, scores, ok := strings.Cut(v, ";")
	if !ok {
		return fmt.Errorf("spamd: bad Spam header %q", clean(v))
	}
	switch strings.ToLower(strings.TrimSpace(flag)) {
	case "true", "yes":
		resp.Spam = true
	case "false", "no":
	default:
		return fmt.Errorf("spamd: bad Spam header %q", clean(v))
	}
	score, required, ok := strings.Cut(scores, "/")
	if !ok {
		return fmt.Errorf("spamd: bad Spam header %q", clean(v))
	}
	var err1, err2 error
	resp.Score, err1 = parseScore(score)
	resp.Required, err2 = parseScore(required)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("spamd: bad score in Spam header %q", clean(v))
	}
	return nil
}

// parseScore reads a decimal score; NaN, infinities and hexadecimal, which
// strconv also reads, are refused.
func parseScore(s string) (float64, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.IndexFunc(s, func(r rune) bool { return !(r >= '0' && r <= '9' || r == '.' || r == '-' || r == '+') }) >= 0 {
		return 0, errors.New("not a decimal number")
	}
	return strconv.ParseFloat(s, 64)
}

// readLine reads a line ended by LF (a CR before it dropped) of at most
// maxLine bytes.
func readLine(r *bufio.Reader) (string, error) {
	var b []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if len(b)+len(chunk) > maxLine {
			return "", fmt.Errorf("line longer than %d bytes", maxLine)
		}
		b = append(b, chunk...)
		if err == nil {
			break
		}
		if err != bufio.ErrBufferFull {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return "", err
		}
	}
	return strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r"), nil
}

// readBody reads length bytes, or to the end without a length, at most
// MaxBody of them kept.
func readBody(r *bufio.Reader, length int) (string, error) {
	var lr io.Reader = r
	if length >= 0 {
		lr = io.LimitReader(r, int64(length))
	}
	b, err := io.ReadAll(io.LimitReader(lr, MaxBody))
	if err != nil {
		return "", fmt.Errorf("spamd: reading the response body: %w", err)
	}
	if length >= 0 && len(b) < min(length, MaxBody) {
		return "", fmt.Errorf("spamd: response body of %d bytes, Content-length %d", len(b), length)
	}
	return string(b), nil
}

// clean keeps printable ASCII of s, at most 200 bytes.
func clean(s string) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < 200; i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			b.WriteByte(c)
		}
	}
	return b.String()
}
