// Module github.com/functions-dev/func-operator is required by knative.dev/func
// v0.50.1 (pkg/operator) but no version of it is served by the Go module proxy.
// This stand-in declares only the API types func's pkg/operator names; func
// uses them only when the cluster serves the Function CRD of that operator,
// which the box never installs, so none of this code runs there.
module github.com/functions-dev/func-operator

go 1.26.0

require (
	k8s.io/api v0.35.7
	k8s.io/apimachinery v0.35.7
)
