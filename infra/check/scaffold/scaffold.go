// Package scaffold rebuilds what `func build --builder=host` compiles for this
// repository, so that a change which would break the image build fails
// `make test` instead of `make deploy`.
//
// func's host builder (knative/func knative-v1.23.1, pkg/oci/scaffolder.go,
// pkg/scaffolding/scaffold.go, pkg/oci/go_builder.go) does not build the
// function's module itself. It writes a main module into .func/build from one
// of its templates, links the function's directory there as ./f, and rewrites
// the template's go.mod (patchGoMod): the go directive is raised to the
// function's, the function module is required and replaced by ./f, and each
// requirement of the function's go.mod that the template lacks is added —
// but a requirement the template pins is kept at the template's version,
// and the function's replace and exclude directives are dropped. go.sum is the
// template's followed by the function's. main.go calls the runtime's Start
// with the function's New(). Then it runs `go build` there with
// CGO_ENABLED=0, GOOS and GOARCH of each platform, and otherwise only its own
// environment (build.buildEnvs of func.yaml do not reach it).
package scaffold

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/semver"
)

// placeholder is the version func gives the linked function module.
const placeholder = "v0.0.0-00010101000000-000000000000"

// Write lays out in dir (empty or missing) the scaffold func's host builder
// would write for the Go function whose module root is root, from template t:
// go.mod, go.sum, main.go and the link f to root. It returns the function's
// module path.
func Write(dir, root string, t Template) (string, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return "", fmt.Errorf("scaffold: %w", err)
	}
	fnMod, err := readGoMod(root)
	if err != nil {
		return "", err
	}
	module := fnMod.Module.Mod.Path

	goMod, err := patchGoMod(t, module, fnMod)
	if err != nil {
		return "", err
	}
	fnSum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("scaffold: read function go.sum: %w", err)
	}
	main := fmt.Sprintf(`package main

import (
	"fmt"
	"os"

	"%s"

	f %q
)

func main() {
	if err := http.Start(f.New()); err != nil {
		fmt.Fprintln(os.Stderr, err.Error())
		os.Exit(1)
	}
}
`, t.Runtime, module)

	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("scaffold: %w", err)
	}
	files := map[string][]byte{
		"go.mod":  goMod,
		"go.sum":  append([]byte(t.Sum), fnSum...),
		"main.go": []byte(main),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return "", fmt.Errorf("scaffold: %w", err)
		}
	}
	if err := os.Symlink(root, filepath.Join(dir, "f")); err != nil {
		return "", fmt.Errorf("scaffold: link f: %w", err)
	}
	return module, nil
}

// readGoMod parses the function's go.mod, which must name its module.
func readGoMod(root string) (*modfile.File, error) {
	data, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return nil, fmt.Errorf("scaffold: read function go.mod: %w", err)
	}
	fnMod, err := modfile.Parse("go.mod", data, nil)
	if err != nil {
		return nil, fmt.Errorf("scaffold: parse function go.mod: %w", err)
	}
	if fnMod.Module == nil {
		return nil, errors.New("scaffold: function go.mod has no module line")
	}
	return fnMod, nil
}

// patchGoMod makes the scaffold's go.mod the way func's patchGoMod does, with
// the same library calls, from the template's go.mod.
func patchGoMod(t Template, module string, fnMod *modfile.File) ([]byte, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "module s\n\nreplace function => ./f\n\ngo %s\n\nrequire function %s\n", t.Go, placeholder)
	for _, r := range t.Requires {
		fmt.Fprintf(&b, "require %s %s", r.Path, r.Version)
		if r.Indirect {
			b.WriteString(" // indirect")
		}
		b.WriteString("\n")
	}
	f, err := modfile.Parse("go.mod", []byte(b.String()), nil)
	if err != nil {
		return nil, fmt.Errorf("scaffold: template go.mod: %w", err)
	}
	if fnMod.Go != nil && fnMod.Go.Version != "" && semver.Compare("v"+fnMod.Go.Version, "v"+t.Go) > 0 {
		if err := f.AddGoStmt(fnMod.Go.Version); err != nil {
			return nil, fmt.Errorf("scaffold: go directive: %w", err)
		}
	}
	// The template's placeholder module "function" becomes the function's.
	if err := errors.Join(f.DropReplace("function", ""), f.AddReplace(module, "", "./f", ""),
		f.DropRequire("function"), f.AddRequire(module, placeholder)); err != nil {
		return nil, fmt.Errorf("scaffold: %w", err)
	}
	pinned := make(map[string]bool, len(f.Require))
	for _, r := range f.Require {
		pinned[r.Mod.Path] = true
	}
	for _, r := range fnMod.Require {
		if pinned[r.Mod.Path] {
			continue
		}
		if err := f.AddRequire(r.Mod.Path, r.Mod.Version); err != nil {
			return nil, fmt.Errorf("scaffold: require %s: %w", r.Mod.Path, err)
		}
	}
	out, err := f.Format()
	if err != nil {
		return nil, fmt.Errorf("scaffold: format go.mod: %w", err)
	}
	return out, nil
}

// Dropped lists what func's scaffold leaves out of the function's go.mod:
// its replace and exclude directives, each as "replace <module>" or
// "exclude <module> <version>". A build that needs one of them differs from
// what `func build` makes.
func Dropped(root string) ([]string, error) {
	f, err := readGoMod(root)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, r := range f.Replace {
		out = append(out, strings.Join(strings.Fields(fmt.Sprintf("replace %s %s => %s %s", r.Old.Path, r.Old.Version, r.New.Path, r.New.Version)), " "))
	}
	for _, x := range f.Exclude {
		out = append(out, fmt.Sprintf("exclude %s %s", x.Mod.Path, x.Mod.Version))
	}
	return out, nil
}

// Platform is one platform the host builder compiles the function for.
type Platform struct {
	OS, Arch string
	// ARM is the GOARM an "arm" platform's variant ("v7") pegs; empty
	// elsewhere (knative/func knative-v1.23.1, pkg/oci/go_builder.go,
	// goBuildEnvs).
	ARM string
}

// DefaultPlatforms are the platforms `func build --builder=host` compiles
// the image for when func.yaml names none: knative/func knative-v1.23.1,
// pkg/functions/client.go, DefaultPlatforms (linux/amd64, linux/arm64 and
// linux/arm variant v7). A constant that overflows a 32-bit int breaks only
// the last of them.
func DefaultPlatforms() []Platform {
	return []Platform{{OS: "linux", Arch: "amd64"}, {OS: "linux", Arch: "arm64"}, {OS: "linux", Arch: "arm", ARM: "7"}}
}

// Env is the environment func's host builder gives go for a platform: the
// caller's environment with CGO_ENABLED, GOOS, GOARCH and, for arm, GOARM
// pegged (func's goBuildEnvs), and goflags, if any, added after the
// caller's GOFLAGS (the later of two -mod flags wins).
func Env(environ []string, p Platform, goflags string) []string {
	env := []string{"CGO_ENABLED=0", "GOOS=" + p.OS, "GOARCH=" + p.Arch}
	if p.ARM != "" {
		env = append(env, "GOARM="+p.ARM)
	}
	var flags string
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		switch name {
		case "CGO_ENABLED", "GOOS", "GOARCH", "GOARM":
		case "GOFLAGS":
			flags = value
		default:
			env = append(env, kv)
		}
	}
	if goflags != "" {
		flags = strings.TrimSpace(flags + " " + goflags)
	}
	if flags != "" {
		env = append(env, "GOFLAGS="+flags)
	}
	return env
}

// Mismatch is a module whose version the scaffold's go.mod lists differently
// from what go selects for the build.
type Mismatch struct {
	Path     string
	Listed   string // in the scaffold's go.mod ("" if absent)
	Selected string // what the module graph selects
	Template string // the template's pin, if it pins the module
	Function string // what the function's go.mod requires, if anything
}

func (m Mismatch) String() string {
	s := fmt.Sprintf("%s: the scaffold's go.mod lists %s, the build needs %s", m.Path, cmp.Or(m.Listed, "nothing"), m.Selected)
	if m.Template != "" {
		s += fmt.Sprintf(" (func's template pins %s", m.Template)
		if m.Function != "" {
			s += fmt.Sprintf("; this module requires %s", m.Function)
		}
		s += ")"
	}
	return s
}

// Mismatches lists the modules whose version go has to change in the go.mod
// of the scaffold in dir to build it for platform p — the ones behind
// "go: updates to go.mod needed", which does not name them.
func Mismatches(dir, root string, t Template, environ []string, p Platform) ([]Mismatch, error) {
	listed, err := readRequires(dir)
	if err != nil {
		return nil, err
	}
	fnReq, err := readRequires(root)
	if err != nil {
		return nil, err
	}
	selected, err := Selected(dir, environ, p)
	if err != nil {
		return nil, err
	}
	pins := make(map[string]string)
	for _, r := range t.Requires {
		pins[r.Path] = r.Version
	}
	var out []Mismatch
	for path, v := range selected {
		if listed[path] != v {
			out = append(out, Mismatch{Path: path, Listed: listed[path], Selected: v, Template: pins[path], Function: fnReq[path]})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// Selected returns the requirements the scaffold in dir ends up with when go
// resolves its packages for platform p with -mod=mod: the versions the
// build links. It works on a copy of go.mod (-modfile), so the scaffold stays
// as written.
func Selected(dir string, environ []string, p Platform) (map[string]string, error) {
	tmp, err := os.MkdirTemp("", "scaffold-modfile")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	for _, name := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(tmp, name), b, 0o644); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command("go", "list", "-mod=mod", "-modfile="+filepath.Join(tmp, "go.mod"), "-deps", ".")
	cmd.Dir = dir
	cmd.Env = Env(environ, p, "")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go list -mod=mod in the scaffold: %v\n%s", err, out)
	}
	return readRequires(tmp)
}

// readRequires returns the requirements of the go.mod in dir.
func readRequires(dir string) (map[string]string, error) {
	data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return nil, err
	}
	return requires(data)
}

func requires(gomod []byte) (map[string]string, error) {
	f, err := modfile.Parse("go.mod", gomod, nil)
	if err != nil {
		return nil, err
	}
	m := make(map[string]string, len(f.Require))
	for _, r := range f.Require {
		m[r.Mod.Path] = r.Mod.Version
	}
	return m, nil
}
