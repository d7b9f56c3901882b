package check

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/mskafka/knative-functions/infra/check/platform"
	"github.com/mskafka/knative-functions/tools/broker/manifest"
)

// Contracts of the design that the manifests must keep. This module cannot
// import the main one: OrderTopicPartitions is events.TopicPartitions there,
// whose test holds it equal to infra/kafka/topics.yaml.
const (
	// OrderTopicPartitions is the partition count of the topic "order".
	OrderTopicPartitions = 5
	// MenuPath is where the order function serves the menu page; the
	// VirtualService sends "/" there.
	MenuPath = "/menu"
	// knativeLocalGateway is where Knative (net-istio) routes cluster-local
	// requests for a Knative Service by its host name.
	knativeLocalGateway = "knative-local-gateway.istio-system.svc.cluster.local"
	// superuserReservedConnections is Postgres' default reserve.
	superuserReservedConnections = 3
)

// Input names what to check. Paths are in FS.
type Input struct {
	FS filesys.FileSystem
	// Kustomization is the directory to render, normally /infra.
	Kustomization string
	// FunctionsDir holds one directory per function with its func.yaml.
	FunctionsDir string
	// RootFuncYAML builds the one image.
	RootFuncYAML string
	// MeshConfig is the IstioOperator the guide installs Istio with.
	MeshConfig string
	// ScaleToZero is the merge patch make deploy applies to each function.
	ScaleToZero string
	// Dispatcher is what the local dispatcher reads: manifest.Load of infra/eventing.
	Dispatcher manifest.Set
	// Usage lists the variables each function reads: the output of
	// `bin/function --help` (the root package's function.Usage).
	Usage string
	// Image stands for the digest `func build` produces.
	Image string
}

// Report is what a successful check saw.
type Report struct {
	Objects  Objects
	Services []*servingv1.Service
}

// Check validates everything Input names and returns every problem found,
// joined; a nil error means the deployment is consistent.
func Check(ctx context.Context, in Input) (Report, error) {
	c := &checker{in: in}
	objs, err := Render(in.FS, in.Kustomization)
	c.add(err)
	c.objs = objs
	if objs == nil {
		return Report{}, errors.Join(c.problems...)
	}
	c.objects(ctx)
	c.functions(ctx)
	c.eventing()
	c.statefulSetsAndServices()
	c.postgres()
	// The mesh: mTLS, the routes, who may call whom, the tracing provider.
	c.meshNamespaces()
	c.virtualServices()
	c.authorizationPolicies()
	c.telemetryProviders()
	c.observability()
	// The platform facts (facts.go).
	c.functionPods()
	c.activatorRules()
	c.platformTracing()
	c.dispatcherScraped()
	c.dashboardSeries()
	c.prerequisitesScript()
	c.undeployScript()
	return Report{Objects: c.objs, Services: c.services}, errors.Join(c.problems...)
}

type checker struct {
	in       Input
	objs     Objects
	funcs    map[string]FuncYAML // by name, those that parse
	declared []string            // every directory of FunctionsDir with a func.yaml
	services []*servingv1.Service
	problems []error
}

func (c *checker) add(err error) {
	if err != nil {
		c.problems = append(c.problems, err)
	}
}

func (c *checker) addf(format string, args ...any) {
	c.problems = append(c.problems, fmt.Errorf(format, args...))
}

// objects validates each object on its own.
func (c *checker) objects(ctx context.Context) {
	seen := map[string]bool{}
	for _, o := range c.objs {
		key := o.APIVersion + "/" + o.String()
		if seen[key] {
			c.addf("%s: declared twice", o)
		}
		seen[key] = true
		for _, msg := range validation.IsDNS1123Subdomain(o.Name) {
			c.addf("%s: name: %s", o, msg)
		}
		// Every namespaced object lives in a namespace this tree creates or in
		// one of the platform's.
		if o.Kind != "Namespace" && o.Namespace == "" {
			c.addf("%s: no namespace: every object names its namespace, the tree sets none", o)
		} else if o.Namespace != "" && Find[corev1.Namespace](c.objs, "", o.Namespace) == nil && !slices.Contains(platform.Namespaces, o.Namespace) {
			c.addf("%s: namespace %q is neither created here nor one of the platform's (%s)", o, o.Namespace, strings.Join(platform.Namespaces, ", "))
		}
		var err error
		switch v := o.Value.(type) {
		case *KafkaSource:
			err = v.Validate(ctx)
		case *sourcesv1.PingSource:
			err = admit(ctx, v)
		case interface{ Validate() error }: // KafkaSink and the Strimzi kinds
			err = v.Validate()
		}
		if err != nil {
			c.addf("%s: %w", o, err)
		}
	}
}

// functions reads the root func.yaml and each function's, builds the Knative
// Service func deploy would create, and checks it with Knative's webhook code
// and against the objects it needs.
func (c *checker) functions(ctx context.Context) {
	root, ok := c.readFuncYAML(c.in.RootFuncYAML, true)
	if ok && root.Build.Builder != "host" {
		c.addf("%s: build.builder %q: want host (builds without a container engine)", strings.TrimPrefix(c.in.RootFuncYAML, "/"), root.Build.Builder)
	}

	dirs, err := c.in.FS.ReadDir(c.in.FunctionsDir)
	if err != nil {
		c.addf("read %s: %w", c.in.FunctionsDir, err)
		return
	}
	sort.Strings(dirs)
	var names []string
	for _, d := range dirs {
		if c.in.FS.Exists(path.Join(c.in.FunctionsDir, d, "func.yaml")) {
			names = append(names, d)
		}
	}
	roles, err := ParseUsage(c.in.Usage, names)
	if err != nil {
		c.addf("function.Usage: %w", err)
	}

	patch, err := c.in.FS.ReadFile(c.in.ScaleToZero)
	if err != nil {
		c.addf("read %s: %w", c.in.ScaleToZero, err)
	}

	c.funcs = map[string]FuncYAML{}
	c.declared = names
	for _, name := range names {
		c.function(ctx, name, root, patch, roles[name])
	}
}

// function checks one functions/<name>/func.yaml against the root one, and
// the Service func deploy would make of it, with the scale-to-zero patch
// applied, against Knative's webhook and the objects it needs.
func (c *checker) function(ctx context.Context, name string, root FuncYAML, patch []byte, vars map[string]Var) {
	file := strings.TrimPrefix(path.Join(c.in.FunctionsDir, name, "func.yaml"), "/")
	f, ok := c.readFuncYAML("/"+file, false)
	if !ok {
		return
	}
	if f.Name != name {
		c.addf("%s: name %q: want %q, the name of its directory", file, f.Name, name)
	}
	c.funcs[f.Name] = f
	if f.Build.Builder != "" || len(f.Build.BuilderImages) > 0 {
		c.addf("%s: build: a deploy descriptor builds nothing; the root func.yaml builds the image", file)
	}
	if root.Runtime != "" && f.Runtime != root.Runtime {
		c.addf("%s: runtime %q: want %q, that of the image", file, f.Runtime, root.Runtime)
	}
	svc, err := FuncService(f, c.in.Image)
	if err != nil {
		c.addf("%s: %w", file, err)
		return
	}
	if err := ValidateService(ctx, svc); err != nil {
		c.addf("%s: func deploy would fail: %w", file, err)
	} else if patch != nil {
		patched, err := mergePatch(svc, patch)
		if err != nil {
			c.addf("%s: %w", strings.TrimPrefix(c.in.ScaleToZero, "/"), err)
		} else if err := ValidateService(ctx, patched); err != nil {
			c.addf("%s applied to %s: %w", strings.TrimPrefix(c.in.ScaleToZero, "/"), name, err)
		} else {
			svc = patched
		}
	}
	c.services = append(c.services, svc)
	c.functionRefs(file, f, svc, vars)
}

// readFuncYAML reads a func.yaml of the tree, decodes it strictly and
// validates it, reporting what is wrong; ok is false if it is unusable. The
// root one builds the image, and `func deploy` must refuse it before it
// builds or creates anything: deployed by itself, the image has no FUNCTION
// and crash-loops. func takes the deployer from func.yaml and, in
// cmd/deploy.go clientOptions, stops at one it does not know with
// "unsupported deploy type: <deployer> (supported: …)" — so the root's
// deployer must be none of func's and say what to run instead.
func (c *checker) readFuncYAML(name string, root bool) (f FuncYAML, ok bool) {
	file := strings.TrimPrefix(name, "/")
	data, err := c.in.FS.ReadFile(name)
	if err != nil {
		c.addf("read %s: %w", file, err)
		return FuncYAML{}, false
	}
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		c.addf("%s: decode: %w", file, err)
		return FuncYAML{}, false
	}
	if root {
		switch {
		case f.Deployer == "" || isFuncDeployer(f.Deployer):
			c.addf("%s: deployer %q: func deploy at the root would create a Service %q without FUNCTION, which crash-loops; give a deployer func does not know, saying what to run instead (func stops at it before building)", file, f.Deployer, f.Name)
		case !strings.Contains(f.Deployer, "make deploy"):
			c.addf("%s: deployer %q: func prints it when it refuses to deploy the root; it should say to run make deploy", file, f.Deployer)
		}
		f.Deployer = ""
	}
	if err := f.Validate(); err != nil {
		c.addf("%s: %w", file, err)
		return FuncYAML{}, false
	}
	return f, true
}

// functionRefs checks what a function's Service refers to and what its role
// reads.
func (c *checker) functionRefs(file string, f FuncYAML, svc *servingv1.Service, vars map[string]Var) {
	ns := svc.Namespace
	if ns == "" {
		c.addf("%s: namespace is not set: func would deploy to the current kubectl namespace", file)
	} else if Find[corev1.Namespace](c.objs, "", ns) == nil {
		c.addf("%s: namespace %q: no Namespace of that name in the tree", file, ns)
	}
	if sa := f.Deploy.ServiceAccountName; sa != "" && Find[corev1.ServiceAccount](c.objs, ns, sa) == nil {
		c.addf("%s: deploy.serviceAccountName: ServiceAccount %s/%s not found", file, ns, sa)
	}
	refs, _ := f.Envs()
	set := map[string]bool{}
	for _, r := range refs {
		if r.Name == "" {
			c.addf("%s: run.envs: all keys of %s %s become variables; name each one, so that each can be checked", file, r.Kind, r.Object)
			continue
		}
		set[r.Name] = true
		if r.Name == "GOMAXPROCS" {
			continue // the Go runtime's: checkMaxProcs
		}
		if _, ok := vars[r.Name]; vars != nil && !ok {
			c.addf("%s: run.envs: %s is not a variable the %s function reads", file, r.Name, f.Name)
		}
		if r.Kind != "" {
			if _, err := c.lookup(ns, r.Kind, r.Object, r.Key); err != nil {
				c.addf("%s: run.envs: %s: %w", file, r.Name, err)
			}
		}
	}
	for name, v := range vars {
		if v.Required && !set[name] {
			c.addf("%s: run.envs: %s is required by the %s function and not set", file, name, f.Name)
		}
	}
	c.checkMaxProcs(file, f, svc)
	if fn, ok := c.env(f, "FUNCTION"); !ok || fn != f.Name {
		c.addf("%s: run.envs: FUNCTION=%q: want %q, the function's name (the image's role)", file, fn, f.Name)
	}
}

// env resolves a function's variable to its value on the cluster.
func (c *checker) env(f FuncYAML, name string) (string, bool) {
	refs, _ := f.Envs()
	for _, r := range refs {
		if r.Name != name {
			continue
		}
		if r.Kind == "" {
			return r.Literal, true
		}
		v, err := c.lookup(cmp.Or(f.Namespace, f.Deploy.Namespace), r.Kind, r.Object, r.Key)
		return v, err == nil
	}
	return "", false
}

// lookup returns the value at key of a Secret or ConfigMap in the tree.
func (c *checker) lookup(ns, kind, name, key string) (string, error) {
	switch kind {
	case "Secret":
		s := Find[corev1.Secret](c.objs, ns, name)
		if s == nil {
			return "", fmt.Errorf("Secret %s/%s not found", ns, name)
		}
		if v, ok := s.Data[key]; ok {
			return string(v), nil
		}
		if v, ok := s.StringData[key]; ok {
			return v, nil
		}
		return "", fmt.Errorf("Secret %s/%s has no key %q", ns, name, key)
	case "ConfigMap":
		cm := Find[corev1.ConfigMap](c.objs, ns, name)
		if cm == nil {
			return "", fmt.Errorf("ConfigMap %s/%s not found", ns, name)
		}
		if v, ok := cm.Data[key]; ok {
			return v, nil
		}
		return "", fmt.Errorf("ConfigMap %s/%s has no key %q", ns, name, key)
	}
	return "", fmt.Errorf("unknown kind %s", kind)
}

// checkMaxProcs checks the number of Ps the Go runtime runs in a
// function's pod against its CPU limit: GOMAXPROCS from run.envs, else Go's
// default, which never goes below platform.GoMaxProcs.Min.
// The limit is read from svc, the Service func would make (FuncService has
// parsed it, and refused a func.yaml whose limit does not parse).
func (c *checker) checkMaxProcs(file string, f FuncYAML, svc *servingv1.Service) {
	limit, ok := svc.Spec.Template.Spec.Containers[0].Resources.Limits[corev1.ResourceCPU]
	if !ok {
		return // no limit: the pod may use every core of its node
	}
	cores := (limit.MilliValue() + 999) / 1000
	v, set := c.env(f, "GOMAXPROCS")
	if !set {
		if cores < platform.GoMaxProcs.Min {
			c.addf("%s: run.envs: no GOMAXPROCS, so the CPU limit %s gets %d Ps: %s", file, limit.String(), platform.GoMaxProcs.Min, platform.GoMaxProcs)
		}
		return
	}
	n, err := strconv.ParseInt(v, 10, 64)
	switch {
	case err != nil || n < 1:
		c.addf("%s: run.envs: GOMAXPROCS=%q: want a whole number of at least 1", file, v)
	case n > cores:
		c.addf("%s: run.envs: GOMAXPROCS=%d: more Ps than the CPU limit %s keeps busy", file, n, limit.String())
	}
}
