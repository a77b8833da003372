package shim

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// TestExportedIdentifiersHaveDocComments checks that every exported
// identifier (types, their exported fields, functions, methods, constants
// and variables) of the Go code in examples-go has a doc comment: the
// shim, the commands, the interop tests and the binding package, ccwal
// (its test files are not checked).
func TestExportedIdentifiersHaveDocComments(t *testing.T) {
	dirs := []string{".", "../cmd", "../interop", "../../go/ccwal"}
	fset := token.NewFileSet()
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			file, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
			if err != nil {
				return err
			}
			for _, missing := range undocumented(file) {
				t.Errorf("%s: exported %s has no doc comment", fset.Position(missing.Pos()), missing.Name)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// undocumented lists the exported identifiers of file without a doc
// comment (a comment on the group, or at the end of the line, counts).
func undocumented(file *ast.File) []*ast.Ident {
	var missing []*ast.Ident
	for _, decl := range file.Decls {
		switch decl := decl.(type) {
		case *ast.FuncDecl:
			if decl.Name.IsExported() && decl.Doc == nil && receiverExported(decl) {
				missing = append(missing, decl.Name)
			}
		case *ast.GenDecl:
			for _, spec := range decl.Specs {
				switch spec := spec.(type) {
				case *ast.TypeSpec:
					if !spec.Name.IsExported() {
						continue
					}
					if spec.Doc == nil && decl.Doc == nil {
						missing = append(missing, spec.Name)
					}
					if st, ok := spec.Type.(*ast.StructType); ok {
						for _, field := range st.Fields.List {
							for _, name := range field.Names {
								if name.IsExported() && field.Doc == nil && field.Comment == nil {
									missing = append(missing, name)
								}
							}
						}
					}
				case *ast.ValueSpec:
					for _, name := range spec.Names {
						if name.IsExported() && spec.Doc == nil && decl.Doc == nil && spec.Comment == nil {
							missing = append(missing, name)
						}
					}
				}
			}
		}
	}
	return missing
}

// receiverExported reports whether a method's receiver type is exported
// (methods of unexported types are not part of the API); true for
// functions.
func receiverExported(decl *ast.FuncDecl) bool {
	if decl.Recv == nil || len(decl.Recv.List) == 0 {
		return true
	}
	typ := decl.Recv.List[0].Type
	if star, ok := typ.(*ast.StarExpr); ok {
		typ = star.X
	}
	if generic, ok := typ.(*ast.IndexExpr); ok {
		typ = generic.X
	}
	ident, ok := typ.(*ast.Ident)
	return !ok || ident.IsExported()
}
