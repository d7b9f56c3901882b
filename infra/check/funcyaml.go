package check

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
)

// FuncSpecVersion is the func.yaml schema version of the func CLI this
// repository targets (knative/func knative-v1.23.1: the last entry of
// migrations in pkg/functions/function_migrations.go). An older file would
// be migrated and rewritten by func; a newer one needs a newer func.
const FuncSpecVersion = "0.36.0"

// FuncYAML is a func.yaml as the func CLI (knative-v1.23.1,
// pkg/functions/function.go) reads it: every field of schema 0.36.0, so that
// decoding rejects anything else — func itself only warns about unknown
// fields and then ignores them.
type FuncYAML struct {
	SpecVersion      string     `json:"specVersion"`
	Name             string     `json:"name,omitempty"`
	Domain           string     `json:"domain,omitempty"`
	Runtime          string     `json:"runtime,omitempty"`
	Registry         string     `json:"registry,omitempty"`
	RegistryInsecure bool       `json:"registryInsecure,omitempty"`
	Image            string     `json:"image,omitempty"`
	Namespace        string     `json:"namespace,omitempty"`
	Deployer         string     `json:"deployer,omitempty"`
	Created          time.Time  `json:"created"`
	Invoke           string     `json:"invoke,omitempty"`
	Build            FuncBuild  `json:"build,omitempty"`
	Run              FuncRun    `json:"run,omitempty"`
	Deploy           FuncDeploy `json:"deploy,omitempty"`
}

// FuncBuild is func.yaml's build section.
type FuncBuild struct {
	Git struct {
		URL        string `json:"url,omitempty"`
		Revision   string `json:"revision,omitempty"`
		ContextDir string `json:"contextDir,omitempty"`
	} `json:"git,omitempty"`
	BuilderImages      map[string]string `json:"builderImages,omitempty"`
	Buildpacks         []string          `json:"buildpacks,omitempty"`
	Builder            string            `json:"builder,omitempty"`
	BuildEnvs          []FuncEnv         `json:"buildEnvs,omitempty"`
	PVCSize            string            `json:"pvcSize,omitempty"`
	RemoteStorageClass string            `json:"remoteStorageClass,omitempty"`
	BaseImage          string            `json:"baseImage,omitempty"`
	Volumes            []struct {
		HostPath string `json:"hostPath"`
		Path     string `json:"path"`
	} `json:"volumes,omitempty"`
}

// FuncRun is func.yaml's run section.
type FuncRun struct {
	Volumes []struct {
		Secret                *string `json:"secret,omitempty"`
		ConfigMap             *string `json:"configMap,omitempty"`
		PersistentVolumeClaim *struct {
			ClaimName *string `json:"claimName,omitempty"`
			ReadOnly  bool    `json:"readOnly,omitempty"`
		} `json:"persistentVolumeClaim,omitempty"`
		EmptyDir *struct {
			Medium    string  `json:"medium,omitempty"`
			SizeLimit *string `json:"sizeLimit,omitempty"`
		} `json:"emptyDir,omitempty"`
		Path *string `json:"path,omitempty"`
	} `json:"volumes,omitempty"`
	Envs         []FuncEnv `json:"envs,omitempty"`
	StartTimeout any       `json:"startTimeout,omitempty"`
	Kafka        *struct {
		Brokers       string `json:"brokers"`
		Topic         string `json:"topic"`
		ConsumerGroup string `json:"consumerGroup"`
	} `json:"kafka,omitempty"`
}

// FuncEnv is one entry of run.envs: a literal, or a reference written
// {{ secret:name:key }}, {{ configMap:name:key }}, {{ secret:name }},
// {{ configMap:name }} or {{ env:NAME }}.
type FuncEnv struct {
	Name  *string `json:"name,omitempty"`
	Value *string `json:"value,omitempty"`
}

// FuncDeploy is func.yaml's deploy section.
type FuncDeploy struct {
	Namespace   string            `json:"namespace,omitempty"`
	Image       string            `json:"image,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Options     struct {
		Scale *struct {
			Min         *int64   `json:"min,omitempty"`
			Max         *int64   `json:"max,omitempty"`
			Metric      *string  `json:"metric,omitempty"`
			Target      *float64 `json:"target,omitempty"`
			Utilization *float64 `json:"utilization,omitempty"`
		} `json:"scale,omitempty"`
		Resources *struct {
			Requests *struct {
				CPU    *string `json:"cpu,omitempty"`
				Memory *string `json:"memory,omitempty"`
			} `json:"requests,omitempty"`
			Limits *struct {
				CPU         *string `json:"cpu,omitempty"`
				Memory      *string `json:"memory,omitempty"`
				Concurrency *int64  `json:"concurrency,omitempty"`
			} `json:"limits,omitempty"`
		} `json:"resources,omitempty"`
	} `json:"options,omitempty"`
	Labels []struct {
		Key   *string `json:"key"`
		Value *string `json:"value,omitempty"`
	} `json:"labels,omitempty"`
	HealthEndpoints struct {
		Liveness  string `json:"liveness,omitempty"`
		Readiness string `json:"readiness,omitempty"`
	} `json:"healthEndpoints,omitempty"`
	ServiceAccountName string `json:"serviceAccountName,omitempty"`
	ImagePullSecret    string `json:"imagePullSecret,omitempty"`
	Deployer           string `json:"deployer,omitempty"`
	Subscriptions      []struct {
		Source  string            `json:"source"`
		Filters map[string]string `json:"filters,omitempty"`
	} `json:"subscriptions,omitempty"`
	ManagementDisabled bool `json:"managementDisabled,omitempty"`
}

// isFuncDeployer tells whether func knows the deployer d
// (pkg/functions/function.go, cmd/deploy.go clientOptions).
func isFuncDeployer(d string) bool {
	return d == "knative" || d == "raw" || d == "keda"
}

// The reference forms func accepts in run.envs (pkg/functions/function.go,
// regKeyFromSecret and friends): envRef is its four Secret and ConfigMap
// forms in one, with the key ($3) empty for a whole object.
var (
	envRef   = regexp.MustCompile(`^{{\s*(secret|configMap):((?:\w|['-]\w)+)(?::([-._a-zA-Z0-9]+))?\s*}}$`)
	envLocal = regexp.MustCompile(`^{{\s*env:(\w+)\s*}}$`)
)

// EnvRef is where a func.yaml variable takes its value from on the cluster.
type EnvRef struct {
	Name string // the variable; empty for a whole Secret or ConfigMap
	// Literal is the value written in func.yaml, when it is one.
	Literal string
	// Kind is "Secret" or "ConfigMap" for a reference, empty for a literal.
	Kind string
	// Object and Key name the Secret or ConfigMap and its key (empty: all keys).
	Object, Key string
}

// Envs resolves run.envs into references, with func's own rules
// (pkg/functions/function_envs.go ValidateEnvs, pkg/k8s/deployer.go
// ProcessEnvs). {{ env:… }} takes a value from the deployer's shell, which a
// repeatable deployment must not depend on, so it is refused here.
func (f FuncYAML) Envs() ([]EnvRef, error) {
	var refs []EnvRef
	var errs []string
	seen := map[string]bool{}
	kinds := map[string]string{"secret": "Secret", "configMap": "ConfigMap"}
	for i, e := range f.Run.Envs {
		if e.Value == nil {
			errs = append(errs, fmt.Sprintf("run.envs[%d]: no value", i))
			continue
		}
		v := *e.Value
		m := envRef.FindStringSubmatch(v)
		if e.Name == nil {
			if m != nil && m[3] == "" {
				refs = append(refs, EnvRef{Kind: kinds[m[1]], Object: m[2]})
			} else {
				errs = append(errs, fmt.Sprintf("run.envs[%d]: a value without a name must be {{ secret:NAME }} or {{ configMap:NAME }}, not %q", i, v))
			}
			continue
		}
		name := *e.Name
		if len(validation.IsEnvVarName(name)) > 0 {
			errs = append(errs, fmt.Sprintf("run.envs[%d]: %q is not a valid variable name", i, name))
			continue
		}
		if seen[name] {
			errs = append(errs, fmt.Sprintf("run.envs: %s is set twice", name))
		}
		seen[name] = true
		switch {
		case m != nil && m[3] != "":
			refs = append(refs, EnvRef{Name: name, Kind: kinds[m[1]], Object: m[2], Key: m[3]})
		case envLocal.MatchString(v):
			errs = append(errs, fmt.Sprintf("run.envs: %s takes its value from the deployer's shell (%s)", name, v))
		case strings.HasPrefix(strings.TrimSpace(v), "{{"):
			errs = append(errs, fmt.Sprintf("run.envs: %s: %q is no reference func understands (want {{ secret:NAME:KEY }} or {{ configMap:NAME:KEY }})", name, v))
		default:
			refs = append(refs, EnvRef{Name: name, Literal: v})
		}
	}
	return refs, joinf(errs)
}

// Validate applies func's own checks (pkg/functions/function.go Validate and
// function_options.go validateOptions) and the ones a deployable descriptor
// of this repository needs: the current schema, a creation stamp (without it
// func treats the directory as no function), the go runtime.
func (f FuncYAML) Validate() error {
	var errs []string
	add := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if f.SpecVersion != FuncSpecVersion {
		add("specVersion %q: want %q (func knative-v1.23)", f.SpecVersion, FuncSpecVersion)
	}
	if len(validation.IsDNS1123Label(f.Name)) > 0 {
		add("name %q: want a DNS label", f.Name)
	}
	if f.Runtime != "go" {
		add("runtime %q: want go", f.Runtime)
	}
	if f.Created.IsZero() {
		add("created is not set: func treats the directory as not initialized")
	}
	if f.Invoke != "" && f.Invoke != "http" && f.Invoke != "cloudevent" {
		add("invoke %q: want http or cloudevent", f.Invoke)
	}
	if f.Deployer != "" && !isFuncDeployer(f.Deployer) {
		add("deployer %q: want knative, raw or keda", f.Deployer)
	}
	if f.Build.Builder != "" && !slices.Contains([]string{"host", "pack", "s2i"}, f.Build.Builder) {
		add("build.builder %q: want host, pack or s2i", f.Build.Builder)
	}
	if s := f.Deploy.Options.Scale; s != nil {
		if s.Min != nil && *s.Min < 0 {
			add("deploy.options.scale.min %d: must not be negative", *s.Min)
		}
		if s.Max != nil && *s.Max < 0 {
			add("deploy.options.scale.max %d: must not be negative", *s.Max)
		}
		if s.Min != nil && s.Max != nil && *s.Max > 0 && *s.Min > *s.Max {
			add("deploy.options.scale.min %d is above max %d", *s.Min, *s.Max)
		}
		if s.Metric != nil && *s.Metric != "concurrency" && *s.Metric != "rps" {
			add("deploy.options.scale.metric %q: want concurrency or rps", *s.Metric)
		}
		if s.Target != nil && *s.Target < 0.01 {
			add("deploy.options.scale.target %v: want at least 0.01", *s.Target)
		}
		if s.Utilization != nil && (*s.Utilization < 1 || *s.Utilization > 100) {
			add("deploy.options.scale.utilization %v: want 1 to 100", *s.Utilization)
		}
	}
	if r := f.Deploy.Options.Resources; r != nil && r.Limits != nil && r.Limits.Concurrency != nil && *r.Limits.Concurrency < 0 {
		add("deploy.options.resources.limits.concurrency %d: must not be negative", *r.Limits.Concurrency)
	}
	for i, l := range f.Deploy.Labels {
		if l.Key == nil || *l.Key == "" {
			add("deploy.labels[%d]: no key", i)
		}
	}
	if _, err := f.Envs(); err != nil {
		add("%v", err)
	}
	return joinf(errs)
}
