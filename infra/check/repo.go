package check

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// LoadRepo copies what the check reads from the repository at root into an
// in-memory file system, at the same paths below "/": the root func.yaml,
// functions/*/func.yaml and infra/ (without the local-stack scripts and this
// module).
func LoadRepo(root string) (filesys.FileSystem, error) {
	mem := filesys.MakeFsInMemory()
	copyFile := func(rel string) error {
		data, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			return fmt.Errorf("load repository: %w", err)
		}
		return mem.WriteFile("/"+filepath.ToSlash(rel), data)
	}
	if err := copyFile("func.yaml"); err != nil {
		return nil, err
	}
	funcs, err := filepath.Glob(filepath.Join(root, "functions", "*", "func.yaml"))
	if err != nil {
		return nil, fmt.Errorf("load repository: %w", err)
	}
	for _, f := range funcs {
		rel, _ := filepath.Rel(root, f)
		if err := copyFile(rel); err != nil {
			return nil, err
		}
	}
	err = filepath.WalkDir(filepath.Join(root, "infra"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == "infra/local" || rel == "infra/check" {
				return filepath.SkipDir
			}
			return nil
		}
		return copyFile(rel)
	})
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
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("generate secrets: %w", err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return fmt.Errorf("generate secrets: %w", err)
		}
		if err := fsys.WriteFile(path.Join("/infra/secrets", e.Name()), data); err != nil {
			return fmt.Errorf("generate secrets: %w", err)
		}
	}
	return nil
}

// Overlay copies every file below dir on disk into fsys at to, keeping the
// paths relative to dir.
func Overlay(fsys filesys.FileSystem, dir, to string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return fsys.WriteFile(path.Join(to, filepath.ToSlash(rel)), data)
	})
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
			for _, f := range functions {
				if name == f {
					own[f] = map[string]Var{}
					section = own[f]
				}
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
		out[f] = map[string]Var{}
		for k, v := range common {
			out[f][k] = v
		}
		for k, v := range own[f] {
			out[f][k] = v
		}
	}
	return out, nil
}
