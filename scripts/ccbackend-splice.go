//go:build ignore

// ccbackend-splice removes named top-level declarations from a Go file and
// writes the rest, so that files of our own can declare them anew in the
// same package. scripts/ccbackend-build.sh runs it on cc-backend's vendored
// files at build time; nothing of cc-backend is kept in this repository.
//
//	go run scripts/ccbackend-splice.go -in FILE -out FILE -drop NAME[,NAME...]
//
// NAME is a function, type, variable or constant, or TYPE.METHOD for a
// method. Every NAME must be found (so that a change upstream stops the
// build instead of slipping through). Imports left unused are removed, and
// so are the comments of the removed declarations.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"
)

func main() {
	in := flag.String("in", "", "the Go file to read")
	out := flag.String("out", "", "the Go file to write")
	drop := flag.String("drop", "", "comma-separated declarations to remove")
	flag.Parse()
	if *in == "" || *out == "" || *drop == "" {
		fmt.Fprintln(os.Stderr, "usage: ccbackend-splice -in FILE -out FILE -drop NAME[,NAME...]")
		os.Exit(2)
	}
	if err := splice(*in, *out, strings.Split(*drop, ",")); err != nil {
		fmt.Fprintf(os.Stderr, "ccbackend-splice: %s: %v\n", *in, err)
		os.Exit(1)
	}
}

func splice(in, out string, names []string) error {
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, in, nil, parser.ParseComments)
	if err != nil {
		return err
	}
	wanted := map[string]bool{}
	for _, name := range names {
		if name = strings.TrimSpace(name); name != "" {
			wanted[name] = false
		}
	}
	comments := ast.NewCommentMap(fset, file, file.Comments)
	var decls []ast.Decl
	for _, decl := range file.Decls {
		switch d := decl.(type) {
		case *ast.FuncDecl:
			name := d.Name.Name
			if d.Recv != nil && len(d.Recv.List) == 1 {
				name = receiverType(d.Recv.List[0].Type) + "." + name
			}
			if _, ok := wanted[name]; ok {
				wanted[name] = true
				continue
			}
		case *ast.GenDecl:
			var specs []ast.Spec
			for _, spec := range d.Specs {
				dropped, err := specDropped(spec, wanted)
				if err != nil {
					return err
				}
				if !dropped {
					specs = append(specs, spec)
				}
			}
			if len(specs) == 0 && len(d.Specs) > 0 {
				continue
			}
			d.Specs = specs
		}
		decls = append(decls, decl)
	}
	for name, found := range wanted {
		if !found {
			return fmt.Errorf("no top-level declaration %s", name)
		}
	}
	file.Decls = decls
	file.Comments = comments.Filter(file).Comments()
	removeUnusedImports(file)
	var buf bytes.Buffer
	if err := format.Node(&buf, fset, file); err != nil {
		return err
	}
	return os.WriteFile(out, buf.Bytes(), 0o644)
}

func receiverType(expr ast.Expr) string {
	switch t := expr.(type) {
	case *ast.StarExpr:
		return receiverType(t.X)
	case *ast.IndexExpr:
		return receiverType(t.X)
	case *ast.Ident:
		return t.Name
	}
	return "?"
}

func specDropped(spec ast.Spec, wanted map[string]bool) (bool, error) {
	switch s := spec.(type) {
	case *ast.TypeSpec:
		if _, ok := wanted[s.Name.Name]; ok {
			wanted[s.Name.Name] = true
			return true, nil
		}
	case *ast.ValueSpec:
		hits := 0
		for _, n := range s.Names {
			if _, ok := wanted[n.Name]; ok {
				wanted[n.Name] = true
				hits++
			}
		}
		if hits > 0 && hits < len(s.Names) {
			return false, fmt.Errorf("%s is declared together with other names", s.Names[0].Name)
		}
		return hits > 0, nil
	}
	return false, nil
}

var majorVersion = regexp.MustCompile(`^v[0-9]+$`)

// removeUnusedImports drops imports whose package name no longer appears as
// the qualifier of a selector. Blank and dot imports stay.
func removeUnusedImports(file *ast.File) {
	used := map[string]bool{}
	ast.Inspect(file, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok {
			if id, ok := sel.X.(*ast.Ident); ok {
				used[id.Name] = true
			}
		}
		return true
	})
	keep := func(spec *ast.ImportSpec) bool {
		if spec.Name != nil {
			return spec.Name.Name == "_" || spec.Name.Name == "." || used[spec.Name.Name]
		}
		p, _ := strconv.Unquote(spec.Path.Value)
		name := path.Base(p)
		if majorVersion.MatchString(name) {
			name = path.Base(path.Dir(p))
		}
		name = strings.TrimPrefix(name, "go-")
		return used[name] || p == "C"
	}
	var imports []*ast.ImportSpec
	for _, spec := range file.Imports {
		if keep(spec) {
			imports = append(imports, spec)
		}
	}
	file.Imports = imports
	var decls []ast.Decl
	for _, decl := range file.Decls {
		if gen, ok := decl.(*ast.GenDecl); ok && gen.Tok == token.IMPORT {
			var specs []ast.Spec
			for _, spec := range gen.Specs {
				if keep(spec.(*ast.ImportSpec)) {
					specs = append(specs, spec)
				}
			}
			if len(specs) == 0 {
				continue
			}
			gen.Specs = specs
		}
		decls = append(decls, decl)
	}
	file.Decls = decls
}
