package main

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/mskafka/knative-functions/cmd/internal/localstack"
	"github.com/mskafka/knative-functions/shared/db"
)

// The tools' roster is the product's: each function has its func.yaml,
// which sets its role, and a database role of its own.
func TestRosterIsTheProducts(t *testing.T) {
	var roles []string
	for _, name := range localstack.Roster() {
		env, err := funcYAMLEnv(filepath.Join("..", "..", "functions", name, "func.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(env, "FUNCTION="+name) {
			t.Errorf("functions/%s/func.yaml does not set FUNCTION=%s: %v", name, name, env)
		}
		roles = append(roles, db.Role(name))
	}
	if want := db.Roles(); !slices.Equal(slices.Sorted(slices.Values(roles)), slices.Sorted(slices.Values(want))) {
		t.Errorf("roster's database roles %v, db.Roles() %v", roles, want)
	}
	if got := slices.Sorted(slices.Values(localstack.StartOrder())); !slices.Equal(got, slices.Sorted(slices.Values(localstack.Roster()))) {
		t.Errorf("start order %v is not the roster %v", localstack.StartOrder(), localstack.Roster())
	}
}
