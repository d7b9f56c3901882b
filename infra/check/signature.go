package check

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
)

// FuncSignature tells which of func's Go scaffoldings `func build` picks for
// the function in dir, the way func decides it (knative/func knative-v1.23.1,
// pkg/scaffolding/detectors.go goDetector): every .go file of the directory,
// tests included, is parsed; a package-level New means "instanced", a
// package-level Handle "static"; both, or neither, and func refuses to build.
func FuncSignature(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("scan %s: %w", dir, err)
	}
	var static, instanced []string
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, e.Name()), nil, parser.SkipObjectResolution)
		if err != nil {
			continue // func skips files it cannot parse, too
		}
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Recv != nil {
				continue
			}
			switch fd.Name.Name {
			case "New":
				instanced = append(instanced, e.Name())
			case "Handle":
				static = append(static, e.Name())
			}
		}
	}
	switch {
	case len(static) > 0 && len(instanced) > 0:
		return "", fmt.Errorf("func finds both signatures: New in %v, Handle in %v", instanced, static)
	case len(instanced) > 0:
		return "instanced", nil
	case len(static) > 0:
		return "static", nil
	}
	return "", errors.New("func finds no signature: no package-level New or Handle")
}
