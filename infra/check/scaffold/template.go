package scaffold

import "strings"

// Template is the part of one of func's Go scaffoldings that decides how
// `func build` resolves modules: the go.mod requirements and go directive it
// starts from, their go.sum lines, and the func-go package its main calls.
type Template struct {
	// Source says where in knative/func the facts were read.
	Source string
	// Go is the scaffold's go directive.
	Go string
	// Requires are the scaffold's pinned requirements, besides the function
	// module it links.
	Requires []Require
	// Sum holds the scaffold's go.sum lines for those requirements.
	Sum string
	// Runtime is the func-go package whose Start the scaffold's main calls
	// with the function's New().
	Runtime string
}

// Require is one pinned requirement of a scaffold's go.mod.
type Require struct {
	Path, Version string
	Indirect      bool
}

// InstancedHTTP is the scaffolding func's host builder writes for a Go
// function with the instanced signature (a package-level New) invoked over
// HTTP, as this repository's root package is (see check.FuncSignature), at
// the func release docs/deploy.md requires.
func InstancedHTTP() Template {
	return Template{
		Source: "knative/func knative-v1.23.1, templates/go/scaffolding/instanced-http/go.mod and go.sum",
		Go:     "1.25.0",
		Requires: []Require{
			{Path: "knative.dev/func-go", Version: "v0.22.0"},
			{Path: "github.com/mattn/go-colorable", Version: "v0.1.15", Indirect: true},
			{Path: "github.com/mattn/go-isatty", Version: "v0.0.23", Indirect: true},
			{Path: "github.com/rs/zerolog", Version: "v1.35.1", Indirect: true},
			{Path: "golang.org/x/sys", Version: "v0.47.0", Indirect: true},
		},
		Sum: strings.Join([]string{
			"github.com/mattn/go-colorable v0.1.15 h1:+u9SLTRGnXv73cEsnsmoZBom+dMU88B2M0aDcWy0/jY=",
			"github.com/mattn/go-colorable v0.1.15/go.mod h1:6LmQG8QLFO4G5z1gPvYEzlUgJ2wF+stgPZH1UqBm1s8=",
			"github.com/mattn/go-isatty v0.0.23 h1:cYwCQTQf3HB6xUC+BtyCLZNr7IzbOmoZbmssVNzSyiQ=",
			"github.com/mattn/go-isatty v0.0.23/go.mod h1:nMCL3Zebbrt45jsMDgnfIwz6ydEQApk5oEI3HqDio6A=",
			"github.com/rs/zerolog v1.35.1 h1:m7xQeoiLIiV0BCEY4Hs+j2NG4Gp2o2KPKmhnnLiazKI=",
			"github.com/rs/zerolog v1.35.1/go.mod h1:EjML9kdfa/RMA7h/6z6pYmq1ykOuA8/mjWaEvGI+jcw=",
			"golang.org/x/sys v0.47.0 h1:o7XGOvZQCADBQQ4Y7VNq2dRWQR7JmOUW8Kxx4ZsNgWs=",
			"golang.org/x/sys v0.47.0/go.mod h1:4GL1E5IUh+htKOUEOaiffhrAeqysfVGipDYzABqnCmw=",
			"knative.dev/func-go v0.22.0 h1:1OhPr6ZL0qmIzwAoGsQueulSJpBH8PSh6WKwHTUF2lE=",
			"knative.dev/func-go v0.22.0/go.mod h1:Xr6bw60apLDTXS3IOFlLK0Ml2PgTuBX7DU8EqITzVno=",
		}, "\n") + "\n",
		Runtime: "knative.dev/func-go/http",
	}
}
