package header

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name   string
		msg    string
		fields []string // Name=Value
		length int      // -1: the whole message
		flaws  Flaw
	}{
		{"crlf", "From: a@b\r\nTo: c@d\r\n\r\nbody\r\n",
			[]string{"From= a@b", "To= c@d"}, 22, 0},
		{"lf", "From: a@b\nTo: c@d\n\nbody\n",
			[]string{"From= a@b", "To= c@d"}, 19, BareLF},
		{"folded", "Subject: one\r\n two\r\n\tthree\r\n\r\n",
			[]string{"Subject= one two\tthree"}, -1, 0},
		{"obs space before colon", "From : a@b\r\n\r\n",
			[]string{"From= a@b"}, -1, 0},
		{"leading continuation", " ; dkim=pass header.d=paypal.com\r\nFrom: a@b\r\n\r\n",
			[]string{"= ; dkim=pass header.d=paypal.com", "From= a@b"}, -1, LeadingContinuation},
		{"bare CR splits like a reader", "X-Foo: bar\rAuthentication-Results: mx; dkim=pass\r\n\r\n",
			[]string{"X-Foo= bar", "Authentication-Results= mx; dkim=pass"}, -1, BareCR},
		{"bare CR then WSP continues", "X-Foo: bar\r baz\r\n\r\n",
			[]string{"X-Foo= bar baz"}, -1, BareCR},
		{"no colon", "From: a@b\r\njunk line\r\n\r\n",
			[]string{"From= a@b", "=junk line"}, -1, NoColon},
		{"bad name", "Fr om: a@b\r\n\r\n", []string{"Fr om= a@b"}, -1, BadName},
		{"8bit name", "Fr\xc3\xb6m: a@b\r\n\r\n", []string{"Fr\xc3\xb6m= a@b"}, -1, BadName | EightBit},
		{"nul", "X: a\x00b\r\n\r\n", []string{"X= a\x00b"}, -1, NUL},
		{"long line", "X: " + strings.Repeat("a", 996) + "\r\n\r\n", []string{"X= " + strings.Repeat("a", 996)}, -1, LongLine},
		{"998 is fine", "X: " + strings.Repeat("a", 995) + "\r\n\r\n", []string{"X= " + strings.Repeat("a", 995)}, -1, 0},
		{"header only", "From: a@b\r\n", []string{"From= a@b"}, -1, NoEnd},
		{"no newline at end", "From: a@b", []string{"From= a@b"}, -1, NoEnd},
		{"empty", "", nil, 0, NoEnd},
		{"empty header", "\r\nbody", nil, 2, 0},
		{"CR at end", "From: a@b\r", []string{"From= a@b"}, -1, NoEnd | BareCR},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.length
			if want < 0 {
				want = len(tt.msg)
			}
			check := func(how string, s *Section, err error) {
				t.Helper()
				if err != nil {
					t.Fatalf("%s: %v", how, err)
				}
				var got []string
				var raw []byte
				for _, f := range s.Fields {
					got = append(got, f.Name+"="+f.Value)
					raw = append(raw, f.Raw...)
				}
				if strings.Join(got, "|") != strings.Join(tt.fields, "|") {
					t.Errorf("%s: fields %q, want %q", how, got, tt.fields)
				}
				if s.Len != want {
					t.Errorf("%s: Len %d, want %d", how, s.Len, want)
				}
				if s.Flaws != tt.flaws {
					t.Errorf("%s: Flaws %b, want %b", how, s.Flaws, tt.flaws)
				}
				// The raw fields are the section, less the empty line.
				if !strings.HasPrefix(tt.msg, string(raw)) {
					t.Errorf("%s: raw fields %q are not the start of the message", how, raw)
				}
			}
			s, err := Parse([]byte(tt.msg))
			check("Parse", s, err)
			s, err = Read(strings.NewReader(tt.msg))
			check("Read", s, err)
			s, err = Read(iotest.OneByteReader(strings.NewReader(tt.msg)))
			check("Read one byte at a time", s, err)
		})
	}
}

func TestReadLeavesBody(t *testing.T) {
	for _, msg := range []string{"A: b\r\n\r\nbody", "A: b\r\rbody", "A: b\n\nbody"} {
		br := bufio.NewReaderSize(strings.NewReader(msg), 16)
		if _, err := Read(br); err != nil {
			t.Fatal(err)
		}
		rest, _ := io.ReadAll(br)
		if string(rest) != "body" {
			t.Errorf("%q: body %q", msg, rest)
		}
	}
}

func TestBounds(t *testing.T) {
	long := "X: " + strings.Repeat("a", MaxSize) + "\r\n\r\n"
	if _, err := Parse([]byte(long)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("long field: %v", err)
	}
	if _, err := Read(strings.NewReader(long)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("long field, Read: %v", err)
	}
	many := strings.Repeat("X: a\r\n", MaxFields+1) + "\r\n"
	if _, err := Parse([]byte(many)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("many fields: %v", err)
	}
	ok := strings.Repeat("X: a\r\n", MaxFields) + "\r\n"
	if _, err := Parse([]byte(ok)); err != nil {
		t.Errorf("%d fields: %v", MaxFields, err)
	}
	// An endless header on a stream stops at the bound.
	r := io.MultiReader(strings.NewReader("X: "), infinite{})
	if _, err := Read(r); !errors.Is(err, ErrTooLarge) {
		t.Errorf("endless: %v", err)
	}
}

type infinite struct{}

func (infinite) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	return len(p), nil
}

func TestGet(t *testing.T) {
	s, err := Parse([]byte("From: a\r\nfrom: b\r\nTo: c\r\n\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Get("FROM"); len(got) != 2 || got[1].Value != " b" {
		t.Errorf("Get: %+v", got)
	}
	if !s.Flaws.Has(0) || s.Flaws.Has(BareCR) {
		t.Error("Has")
	}
}

func TestSkipCFWS(t *testing.T) {
	for in, want := range map[string]string{
		"  x":                  "x",
		"(c) x":                "x",
		"(a (nested) c)\r\n x": "x",
		`(q \) p) x`:           "x",
		"(unterminated x":      "",
		"\t":                   "",
	} {
		if got := SkipCFWS(in); got != want {
			t.Errorf("SkipCFWS(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"From: a@b\r\n\r\nbody", " x\r\nA: b\r\n\r\n", "A: b\rB: c\r\n\r\n", "A: b\r\n c\n\td\r\re: f\r\n\r\n", "\r",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		s, err := Parse(msg)
		r, rerr := Read(iotest.HalfReader(bytes.NewReader(msg)))
		if (err == nil) != (rerr == nil) {
			t.Fatalf("Parse %v, Read %v", err, rerr)
		}
		if err != nil {
			return
		}
		if s.Len != r.Len || s.Flaws != r.Flaws || len(s.Fields) != len(r.Fields) {
			t.Fatalf("Parse and Read differ: %d/%d %b/%b %d/%d", s.Len, r.Len, s.Flaws, r.Flaws, len(s.Fields), len(r.Fields))
		}
		var raw []byte
		for i, f := range s.Fields {
			if string(f.Raw) != string(r.Fields[i].Raw) || f.Name != r.Fields[i].Name {
				t.Fatalf("field %d differs", i)
			}
			raw = append(raw, f.Raw...)
		}
		if !bytes.HasPrefix(msg, raw) || s.Len > len(msg) || len(raw) > s.Len {
			t.Fatalf("fields are not the section: %d raw, Len %d", len(raw), s.Len)
		}
	})
}

func TestCommentLen(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int
	}{
		{"(a) b", 3},
		{"(a (nested) \\) b) c", 17},
		{"(unclosed", -1},
		{"(ends in \\", -1},
		{"no comment", -1},
		{"", -1},
	} {
		if got := CommentLen(c.in); got != c.want {
			t.Errorf("CommentLen(%q) = %d, want %d", c.in, got, c.want)
		}
	}
}
