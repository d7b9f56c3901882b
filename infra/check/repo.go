package check

import (
	"bufio"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// LoadRepo copies what the check reads from the repository at root into an
// in-memory file system, at the same paths below "/": the root func.yaml,
// functions/*/func.yaml and infra/ (without the local-stack scripts and this
// module).
func LoadRepo(root string) (filesys.FileSystem, error) {
	mem := filesys.MakeFsInMemory()
	funcs, err := filepath.Glob(filepath.Join(root, "functions", "*", "func.yaml"))
	if err == nil {
		err = copyFiles(mem, root, "/", append(funcs, filepath.Join(root, "func.yaml")))
	}
	if err == nil {
		err = Overlay(mem, filepath.Join(root, "infra"), "/infra", "local", "check")
	}
	if err != nil {
		return nil, fmt.Errorf("load repository: %w", err)
	}
	return mem, nil
}

// GenerateSecrets runs infra/cluster/secrets.sh — what `make deploy` runs —
// into a temporary directory and puts the files where the kustomization
// expects them (/infra/secrets in fsys). Checking with the files the script
// writes, not hand-made ones, checks the script's keys and URLs too.
func GenerateSecrets(root string, fsys filesys.FileSystem) error {
	dir, err := os.MkdirTemp("", "ms-kafka-secrets-")
	if err != nil {
		return fmt.Errorf("generate secrets: %w", err)
	}
	defer os.RemoveAll(dir)
	cmd := exec.Command("bash", filepath.Join(root, "infra", "cluster", "secrets.sh"), dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("generate secrets: %w: %s", err, out)
	}
	if err := Overlay(fsys, dir, "/infra/secrets"); err != nil {
		return fmt.Errorf("generate secrets: %w", err)
	}
	return nil
}

// Overlay copies every file below dir on disk into fsys at to, keeping the
// paths relative to dir; the directories skip (relative to dir) are left out.
func Overlay(fsys filesys.FileSystem, dir, to string, skip ...string) error {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(dir, p)
		switch {
		case err != nil:
			return err
		case d.IsDir() && slices.Contains(skip, filepath.ToSlash(rel)):
			return filepath.SkipDir
		case !d.IsDir():
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return copyFiles(fsys, dir, to, files)
}

// copyFiles copies files from below dir on disk into fsys at the same paths
// relative to dir, below to.
func copyFiles(fsys filesys.FileSystem, dir, to string, files []string) error {
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, f)
		if err := fsys.WriteFile(path.Join(to, filepath.ToSlash(rel)), data); err != nil {
			return err
		}
	}
	return nil
}

// Var is one environment variable a function reads.
type Var struct {
	Required bool
}

// ParseUsage reads the output of the root package's function.Usage: a
// section per function (named as the function) and sections every function
// reads ("all functions", "telemetry (…)"). It returns, per function, every
// variable it reads.
func ParseUsage(text string, functions []string) (map[string]map[string]Var, error) {
	common := map[string]Var{}
	own := map[string]map[string]Var{}
	var section map[string]Var
	s := bufio.NewScanner(strings.NewReader(text))
	for s.Scan() {
		line := s.Text()
		switch {
		case strings.TrimSpace(line) == "":
		case !strings.HasPrefix(line, " ") && strings.HasSuffix(line, ":"):
			name, _, _ := strings.Cut(strings.TrimSuffix(line, ":"), " (")
			section = common
			if slices.Contains(functions, name) {
				own[name] = map[string]Var{}
				section = own[name]
			}
		case strings.HasPrefix(line, "  ") && section != nil:
			field, desc, _ := strings.Cut(strings.TrimSpace(line), "\t")
			name, _, _ := strings.Cut(field, "=")
			section[name] = Var{Required: strings.HasSuffix(desc, "(required)")}
		}
	}
	out := map[string]map[string]Var{}
	for _, f := range functions {
		if own[f] == nil {
			return nil, fmt.Errorf("usage lists no variables for the function %q", f)
		}
		out[f] = maps.Clone(common)
		maps.Copy(out[f], own[f])
	}
	return out, nil
}
