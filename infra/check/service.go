package check

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"knative.dev/pkg/apis"
	"knative.dev/serving/pkg/apis/autoscaling"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	"sigs.k8s.io/yaml"
)

// The constants of func's Knative deployer (knative/func knative-v1.23.1,
// pkg/k8s/deployer.go and pkg/deployer/common.go).
const (
	funcHTTPPort          = 8080
	funcLivenessEndpoint  = "/health/liveness"
	funcReadinessEndpoint = "/health/readiness"
	funcDeployerKey       = "function.knative.dev/deployer"
)

// FuncService returns the Knative Service that `func deploy --image IMAGE
// --build=false --push=false` creates from f. It follows
// generateNewService in knative/func pkg/knative/deployer.go
// (knative-v1.23.1) field by field, for the parts of func.yaml this
// repository uses; run.volumes and run.kafka are refused rather than modelled.
// BUILT, which func sets to the time of the deployment, is fixed.
func FuncService(f FuncYAML, image string) (*servingv1.Service, error) {
	if len(f.Run.Volumes) > 0 || f.Run.Kafka != nil {
		return nil, fmt.Errorf("run.volumes and run.kafka are not modelled by this check")
	}
	refs, err := f.Envs()
	if err != nil {
		return nil, err
	}
	yes, no := true, false
	container := corev1.Container{
		Image: image,
		SecurityContext: &corev1.SecurityContext{
			RunAsNonRoot:             &yes,
			AllowPrivilegeEscalation: &no,
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		LivenessProbe:  httpProbe(cmp.Or(f.Deploy.HealthEndpoints.Liveness, funcLivenessEndpoint)),
		ReadinessProbe: httpProbe(cmp.Or(f.Deploy.HealthEndpoints.Readiness, funcReadinessEndpoint)),
	}

	container.Env, container.EnvFrom = funcEnv(refs)
	labels, err := funcLabels(f)
	if err != nil {
		return nil, err
	}

	// generateServiceAnnotations: the deployer's name and deploy.annotations,
	// on the Service and (a copy) on the revision template.
	annotations := map[string]string{funcDeployerKey: "knative"}
	for k, v := range f.Deploy.Annotations {
		annotations[k] = v
	}
	templateAnnotations := maps.Clone(annotations)

	svc := &servingv1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "serving.knative.dev/v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: f.Name, Namespace: cmp.Or(f.Namespace, f.Deploy.Namespace), Labels: labels, Annotations: annotations},
		Spec: servingv1.ServiceSpec{ConfigurationSpec: servingv1.ConfigurationSpec{Template: servingv1.RevisionTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: maps.Clone(labels), Annotations: templateAnnotations},
			Spec: servingv1.RevisionSpec{PodSpec: corev1.PodSpec{
				Containers:         []corev1.Container{container},
				ServiceAccountName: f.Deploy.ServiceAccountName,
			}},
		}}},
	}
	if f.Deploy.ImagePullSecret != "" {
		svc.Spec.Template.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: f.Deploy.ImagePullSecret}}
	}
	if err := setServiceOptions(&svc.Spec.Template, f); err != nil {
		return nil, err
	}
	return svc, nil
}

// funcEnv follows func's ProcessEnvs: BUILT first, then run.envs in order,
// then ADDRESS=0.0.0.0 unless run.envs sets ADDRESS.
func funcEnv(refs []EnvRef) ([]corev1.EnvVar, []corev1.EnvFromSource) {
	env := []corev1.EnvVar{{Name: "BUILT", Value: "20260101T000000"}}
	var envFrom []corev1.EnvFromSource
	hasAddress := false
	for _, r := range refs {
		switch {
		case r.Name == "":
			src := corev1.EnvFromSource{}
			if r.Kind == "Secret" {
				src.SecretRef = &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: r.Object}}
			} else {
				src.ConfigMapRef = &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: r.Object}}
			}
			envFrom = append(envFrom, src)
			continue
		case r.Kind == "Secret":
			env = append(env, corev1.EnvVar{Name: r.Name, ValueFrom: &corev1.EnvVarSource{
				SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: r.Object}, Key: r.Key}}})
		case r.Kind == "ConfigMap":
			env = append(env, corev1.EnvVar{Name: r.Name, ValueFrom: &corev1.EnvVarSource{
				ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: r.Object}, Key: r.Key}}})
		default:
			env = append(env, corev1.EnvVar{Name: r.Name, Value: r.Literal})
		}
		hasAddress = hasAddress || r.Name == "ADDRESS"
	}
	if !hasAddress {
		env = append(env, corev1.EnvVar{Name: "ADDRESS", Value: "0.0.0.0"})
	}
	return env, envFrom
}

// funcLabels follows func's GenerateCommonLabels: the function's labels,
// then func's own.
func funcLabels(f FuncYAML) (map[string]string, error) {
	labels := map[string]string{
		"function.knative.dev/name":    f.Name,
		"function.knative.dev/runtime": f.Runtime,
	}
	for _, l := range f.Deploy.Labels {
		v := ""
		if l.Value != nil {
			v = *l.Value
		}
		if strings.HasPrefix(v, "{{") {
			return nil, fmt.Errorf("deploy.labels: %s takes its value from the deployer's shell", *l.Key)
		}
		labels[*l.Key] = v
	}
	labels["boson.dev/function"] = "true"
	if f.Domain != "" {
		labels["func.domain"] = f.Domain
	}
	return labels, nil
}

// setServiceOptions follows func's function of the same name: scale options
// become the revision template's autoscaling annotations, resources the
// container's, limits.concurrency the containerConcurrency.
func setServiceOptions(t *servingv1.RevisionTemplateSpec, f FuncYAML) error {
	o := f.Deploy.Options
	if s := o.Scale; s != nil {
		set := func(key string, ok bool, v string) {
			if ok {
				t.Annotations[key] = v
			}
		}
		set(autoscaling.MinScaleAnnotationKey, s.Min != nil, fmt.Sprintf("%d", deref(s.Min)))
		set(autoscaling.MaxScaleAnnotationKey, s.Max != nil, fmt.Sprintf("%d", deref(s.Max)))
		set(autoscaling.MetricAnnotationKey, s.Metric != nil, deref(s.Metric))
		set(autoscaling.TargetAnnotationKey, s.Target != nil, fmt.Sprintf("%f", deref(s.Target)))
		set(autoscaling.TargetUtilizationPercentageKey, s.Utilization != nil, fmt.Sprintf("%f", deref(s.Utilization)))
	}
	r := o.Resources
	if r == nil {
		return nil
	}
	c := &t.Spec.Containers[0]
	quantity := func(field string, v *string, into corev1.ResourceList, name corev1.ResourceName) error {
		if v == nil {
			return nil
		}
		q, err := resource.ParseQuantity(*v)
		if err != nil {
			return fmt.Errorf("deploy.options.resources.%s %q: %w", field, *v, err)
		}
		into[name] = q
		return nil
	}
	if r.Requests != nil {
		c.Resources.Requests = corev1.ResourceList{}
		if err := quantity("requests.cpu", r.Requests.CPU, c.Resources.Requests, corev1.ResourceCPU); err != nil {
			return err
		}
		if err := quantity("requests.memory", r.Requests.Memory, c.Resources.Requests, corev1.ResourceMemory); err != nil {
			return err
		}
	}
	if r.Limits != nil {
		c.Resources.Limits = corev1.ResourceList{}
		if err := quantity("limits.cpu", r.Limits.CPU, c.Resources.Limits, corev1.ResourceCPU); err != nil {
			return err
		}
		if err := quantity("limits.memory", r.Limits.Memory, c.Resources.Limits, corev1.ResourceMemory); err != nil {
			return err
		}
		t.Spec.ContainerConcurrency = r.Limits.Concurrency
	}
	return nil
}

// ValidateService runs what Knative's admission webhook runs when the Service
// is created: its defaults, then its validation.
func ValidateService(ctx context.Context, svc *servingv1.Service) error {
	s := svc.DeepCopy()
	s.SetDefaults(ctx)
	if err := s.Validate(apis.WithinCreate(ctx)); err != nil {
		return fmt.Errorf("Knative rejects Service %s/%s: %w", s.Namespace, s.Name, err)
	}
	return nil
}

func httpProbe(path string) *corev1.Probe {
	return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
		Path: path, Port: intstr.FromInt32(funcHTTPPort),
	}}}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// mergePatch applies a YAML merge patch (RFC 7386, kubectl patch --type=merge)
// to a copy of svc.
func mergePatch(svc *servingv1.Service, patch []byte) (*servingv1.Service, error) {
	var p map[string]any
	if err := yaml.Unmarshal(patch, &p); err != nil {
		return nil, fmt.Errorf("decode merge patch: %w", err)
	}
	b, err := json.Marshal(svc)
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	merged, err := json.Marshal(mergeJSON(doc, p))
	if err != nil {
		return nil, err
	}
	out := &servingv1.Service{}
	dec := json.NewDecoder(bytes.NewReader(merged))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		return nil, fmt.Errorf("merge patch: %w", err)
	}
	return out, nil
}

func mergeJSON(doc, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	d, ok := doc.(map[string]any)
	if !ok {
		d = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(d, k)
		} else {
			d[k] = mergeJSON(d[k], v)
		}
	}
	return d
}
