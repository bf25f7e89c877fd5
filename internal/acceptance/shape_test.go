package acceptance

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The check packages all have one shape, so that a reader of one can
// predict the rest: the package doc and the pure functions in <pkg>.go
// (with the Resolver interface where the package does DNS), and in
// checker.go the Name constant, Options, Scores, DefaultScores, New
// (returning *Checker) and the Checker with Name, Stage, Check and
// Evaluate. TestShape walks the packages' syntax trees and says what is
// missing, so that the next package keeps the shape too.
func TestShape(t *testing.T) {
	type pkg struct {
		name     string   // the directory under the module root; its last element names the package
		resolver bool     // does DNS: declares Resolver in <pkg>.go
		without  []string // parts the package has no use for, each with its reason below
	}
	pkgs := []pkg{
		{name: "fcrdns", resolver: true},
		{name: "helo", resolver: true},
		{name: "spf", resolver: true},
		{name: "dkim", resolver: true},
		{name: "dmarc", resolver: true},
		{name: "greylist"},
		// dnsbl's scores are not the package's: each List carries the
		// score of its own listing (List.Score), as Rspamd's and
		// SpamAssassin's RBL rules do, so a package-wide Scores would
		// say nothing a List does not.
		{name: "dnsbl", resolver: true, without: []string{"Scores", "DefaultScores"}},
		// relay decides by demands only (a relay is allowed or not):
		// there is nothing to score. Its options are relay.Policy, which
		// the pure function Check takes too (the contract's signature):
		// an Options type beside it would be a second name for the same
		// settings.
		{name: "relay", without: []string{"Scores", "DefaultScores", "Options"}},
		// verify makes two checks of one Checker type, a sender and a
		// recipient callout, at different stages: NewSender and
		// NewRecipient (which return verdict.Check) take New's place.
		{name: "verify", resolver: true, without: []string{"New"}},
		{name: "limit"},
		{name: "message"},
		{name: "scan/clamd"},
		// rspamd and spamd score a message themselves: the Checker passes
		// on their score (rspamd's through its Mapping of actions), so
		// there are no scores of the package's own.
		{name: "scan/rspamd", without: []string{"Scores", "DefaultScores"}},
		{name: "scan/spamd", without: []string{"Scores", "DefaultScores"}},
	}
	root := filepath.Join("..", "..")
	for _, p := range pkgs {
		t.Run(p.name, func(t *testing.T) {
			dir := filepath.Join(root, filepath.FromSlash(p.name))
			p.name = path.Base(p.name)
			fset := token.NewFileSet()
			files := map[string]*ast.File{}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				n := e.Name()
				if !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
					continue
				}
				f, err := parser.ParseFile(fset, filepath.Join(dir, n), nil, parser.ParseComments)
				if err != nil {
					t.Fatal(err)
				}
				files[n] = f
			}
			main := files[p.name+".go"]
			if main == nil {
				t.Fatalf("no %s.go", p.name)
			}
			if main.Doc == nil || !strings.HasPrefix(main.Doc.Text(), "Package "+p.name+" ") {
				t.Errorf("%s.go does not hold the package doc", p.name)
			}
			for n, f := range files {
				if f.Doc != nil && n != p.name+".go" && n != "doc.go" {
					t.Errorf("%s holds a package doc too", n)
				}
			}
			if p.resolver && !declares(main, token.TYPE, "Resolver") {
				t.Errorf("%s.go does not declare Resolver", p.name)
			}
			checker := files["checker.go"]
			if checker == nil {
				t.Fatal("no checker.go")
			}
			want := []struct {
				kind token.Token
				name string
			}{
				{token.CONST, "Name"}, {token.TYPE, "Options"}, {token.TYPE, "Scores"},
				{token.VAR, "DefaultScores"}, {token.TYPE, "Checker"},
			}
			for _, w := range want {
				if slices.Contains(p.without, w.name) {
					continue
				}
				if !declares(checker, w.kind, w.name) {
					t.Errorf("checker.go does not declare %s %s", w.kind, w.name)
				}
			}
			if c, ok := constValue(checker, "Name"); ok && c != p.name {
				t.Errorf("Name = %q, want %q", c, p.name)
			}
			newFn := funcDecl(checker, "", "New")
			if slices.Contains(p.without, "New") {
				// no New, and so no claim about it
			} else if newFn == nil {
				t.Error("checker.go does not declare New")
			} else if res := newFn.Type.Results; res == nil || len(res.List) != 1 || !isStar(res.List[0].Type, "Checker") {
				t.Error("New does not return *Checker")
			}
			for _, m := range []string{"Name", "Stage", "Check", "Evaluate"} {
				if funcDecl(checker, "Checker", m) == nil {
					t.Errorf("checker.go does not declare (*Checker).%s", m)
				}
			}
			// The check's name is written once, as the Name constant.
			for n, f := range files {
				ast.Inspect(f, func(node ast.Node) bool {
					lit, ok := node.(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						return true
					}
					if s, _ := strconv.Unquote(lit.Value); s == p.name && !(n == "checker.go" && isNameConst(f, lit)) {
						t.Errorf("%s: the string %q is written again: use Name", fset.Position(lit.Pos()), s)
					}
					return true
				})
			}
		})
	}
}

func declares(f *ast.File, kind token.Token, name string) bool {
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != kind {
			continue
		}
		for _, s := range g.Specs {
			switch s := s.(type) {
			case *ast.TypeSpec:
				if s.Name.Name == name {
					return true
				}
			case *ast.ValueSpec:
				for _, n := range s.Names {
					if n.Name == name {
						return true
					}
				}
			}
		}
	}
	return false
}

func constValue(f *ast.File, name string) (string, bool) {
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			v := s.(*ast.ValueSpec)
			for i, n := range v.Names {
				if n.Name == name && i < len(v.Values) {
					if lit, ok := v.Values[i].(*ast.BasicLit); ok {
						s, err := strconv.Unquote(lit.Value)
						return s, err == nil
					}
				}
			}
		}
	}
	return "", false
}

func isNameConst(f *ast.File, lit *ast.BasicLit) bool {
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			v := s.(*ast.ValueSpec)
			for i, n := range v.Names {
				if n.Name == "Name" && i < len(v.Values) && v.Values[i] == lit {
					return true
				}
			}
		}
	}
	return false
}

// funcDecl finds a function (recv "") or a method of *recv or recv.
func funcDecl(f *ast.File, recv, name string) *ast.FuncDecl {
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Name.Name != name {
			continue
		}
		if recv == "" && fn.Recv == nil {
			return fn
		}
		if recv != "" && fn.Recv != nil && len(fn.Recv.List) == 1 {
			t := fn.Recv.List[0].Type
			if isStar(t, recv) {
				return fn
			}
			if id, ok := t.(*ast.Ident); ok && id.Name == recv {
				return fn
			}
		}
	}
	return nil
}

func isStar(e ast.Expr, name string) bool {
	s, ok := e.(*ast.StarExpr)
	if !ok {
		return false
	}
	id, ok := s.X.(*ast.Ident)
	return ok && id.Name == name
}
