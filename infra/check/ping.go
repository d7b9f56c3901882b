package check

import (
	"cmp"
	"context"
	"slices"

	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"
)

// validatePing runs the PingSource webhook's checks (schedule, data, sink)
// after its defaults, as the cluster would on apply.
func validatePing(ctx context.Context, p *sourcesv1.PingSource) error {
	p = p.DeepCopy()
	p.SetDefaults(ctx)
	if err := p.Validate(ctx); err != nil {
		return err
	}
	return nil
}

// pings checks that each PingSource wakes a function this tree deploys, in
// its namespace. The local stack reads the same manifests (manifest.Load),
// compared in dispatcher.
func (c *checker) pings() {
	for _, p := range All[sourcesv1.PingSource](c.objs) {
		id := "PingSource " + p.Namespace + "/" + p.Name
		ref := p.Spec.Sink.Ref
		switch {
		case ref == nil:
			c.addf("%s: spec.sink: want a ref to a function, not a URI", id)
		case ref.APIVersion != "serving.knative.dev/v1" || ref.Kind != "Service":
			c.addf("%s: spec.sink: %s %s: want a Knative Service (serving.knative.dev/v1)", id, ref.APIVersion, ref.Kind)
		case !slices.Contains(c.declared, ref.Name):
			c.addf("%s: spec.sink names Service %q, which no functions/*/func.yaml deploys", id, ref.Name)
		default:
			if f, ok := c.funcs[ref.Name]; ok {
				if ns, deployed := cmp.Or(ref.Namespace, p.Namespace), cmp.Or(f.Namespace, f.Deploy.Namespace); ns != deployed {
					c.addf("%s: spec.sink: function %s is deployed to %q, not %q", id, ref.Name, deployed, ns)
				}
			}
		}
	}
}
