package scaffold

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// repoRoot is the function's module root: the repository.
const repoRoot = "../../.."

// deployGOFLAGS reads the go flags infra/cluster/deploy.sh gives func's host
// build (FUNC_BUILD_GOFLAGS), so this test builds the way make deploy does.
func deployGOFLAGS(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "infra", "cluster", "deploy.sh"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^FUNC_BUILD_GOFLAGS=(.*)$`).FindSubmatch(data)
	if m == nil {
		t.Log("infra/cluster/deploy.sh sets no FUNC_BUILD_GOFLAGS: building in go's default module mode (-mod=readonly)")
		return ""
	}
	return strings.Trim(string(m[1]), `"'`)
}

// environ is the test's environment with GOFLAGS as go sees them (also
// those set with go env -w), as deploy.sh passes them to func.
func environ(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOFLAGS").Output()
	if err != nil {
		t.Fatalf("go env GOFLAGS: %v", err)
	}
	return append(os.Environ(), "GOFLAGS="+strings.TrimSpace(string(out)))
}

// TestFuncHostBuild builds the root function the way `func build
// --builder=host` does in make deploy: func's instanced-HTTP scaffold with
// its pinned requirements, this module linked in as ./f, for func's first
// default platform (linux/amd64), naming the modules involved when a
// dependency change would stop the image build; then for its other
// default platforms (arm64, and 32-bit arm, where an int is 32 bits wide).
func TestFuncHostBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the whole function")
	}
	tmpl := InstancedHTTP()

	dropped, err := Dropped(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dropped {
		t.Errorf("go.mod: %s: func build drops replace and exclude directives (it merges only the requirements into its scaffold), so the image would be built without it", d)
	}

	dir := filepath.Join(t.TempDir(), "build")
	if _, err := Write(dir, repoRoot, tmpl); err != nil {
		t.Fatal(err)
	}
	first := DefaultPlatforms()[0]
	// Before the build: with -mod=mod, go build rewrites the scaffold's go.mod.
	mm, merr := Mismatches(dir, repoRoot, tmpl, os.Environ(), first)
	goflags := deployGOFLAGS(t)
	cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "f."+first.OS+"."+first.Arch), ".")
	cmd.Dir = dir
	cmd.Env = Env(environ(t), first, goflags)
	out, err := cmd.CombinedOutput()
	if err == nil {
		for _, m := range mm {
			t.Logf("a plain func build (-mod=readonly) would stop at: %s", m)
		}
		logRaised(t, dir, tmpl, first)
		buildOthers(t, dir, goflags)
		return
	}
	mode := "GOFLAGS+=" + goflags
	if goflags == "" {
		mode = "go's default -mod=readonly"
	}
	var why strings.Builder
	switch {
	case merr != nil:
		why.WriteString("(could not tell which modules: " + merr.Error() + ")")
	case len(mm) > 0:
		why.WriteString("modules whose version the scaffold's go.mod would need changed:")
		for _, m := range mm {
			why.WriteString("\n  " + m.String())
		}
	}
	t.Fatalf("func build --builder=host (scaffold of %s, %s) fails for this repository:\n%s\n%s",
		tmpl.Source, mode, strings.TrimSpace(string(out)), why.String())
}

// logRaised says, for whoever reads the verbose log, which modules the image
// links at other versions than this module's tests use, because func's
// template pins them higher.
func logRaised(t *testing.T, dir string, tmpl Template, p Platform) {
	t.Helper()
	selected, err := Selected(dir, os.Environ(), p)
	if err != nil {
		t.Log(err)
		return
	}
	fnMod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Log(err)
		return
	}
	fnReq, err := requires(fnMod)
	if err != nil {
		t.Log(err)
		return
	}
	for _, r := range tmpl.Requires {
		if v, ok := fnReq[r.Path]; ok && selected[r.Path] != v {
			t.Logf("the image links %s %s (func's template pin), this module's tests %s", r.Path, selected[r.Path], v)
		}
	}
}

// buildOthers compiles the scaffold in dir for func's default platforms but
// the first, as its host builder does, and fails for each that does not build.
func buildOthers(t *testing.T, dir, goflags string) {
	t.Helper()
	for _, p := range DefaultPlatforms()[1:] {
		cmd := exec.Command("go", "build", "-o", os.DevNull, ".")
		cmd.Dir = dir
		cmd.Env = Env(environ(t), p, goflags)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("func build --builder=host for %s/%s%s fails:\n%s", p.OS, p.Arch, p.ARM, strings.TrimSpace(string(out)))
		}
	}
}
