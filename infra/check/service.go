package check

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
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
	container := corev1.Container{
		Image: image,
		SecurityContext: &corev1.SecurityContext{
			RunAsNonRoot:             ptr.To(true),
			AllowPrivilegeEscalation: ptr.To(false),
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
	maps.Copy(annotations, f.Deploy.Annotations)

	svc := &servingv1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "serving.knative.dev/v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: f.Name, Namespace: cmp.Or(f.Namespace, f.Deploy.Namespace), Labels: labels, Annotations: annotations},
		Spec: servingv1.ServiceSpec{ConfigurationSpec: servingv1.ConfigurationSpec{Template: servingv1.RevisionTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: maps.Clone(labels), Annotations: maps.Clone(annotations)},
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
		v := ptr.Deref(l.Value, "")
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
		set(autoscaling.MinScaleAnnotationKey, s.Min != nil, fmt.Sprintf("%d", ptr.Deref(s.Min, 0)))
		set(autoscaling.MaxScaleAnnotationKey, s.Max != nil, fmt.Sprintf("%d", ptr.Deref(s.Max, 0)))
		set(autoscaling.MetricAnnotationKey, s.Metric != nil, ptr.Deref(s.Metric, ""))
		set(autoscaling.TargetAnnotationKey, s.Target != nil, fmt.Sprintf("%f", ptr.Deref(s.Target, 0)))
		set(autoscaling.TargetUtilizationPercentageKey, s.Utilization != nil, fmt.Sprintf("%f", ptr.Deref(s.Utilization, 0)))
	}
	r := o.Resources
	if r == nil {
		return nil
	}
	c := &t.Spec.Containers[0]
	var err error
	if r.Requests != nil {
		c.Resources.Requests, err = resourceList("requests", r.Requests.CPU, r.Requests.Memory)
	}
	if r.Limits != nil && err == nil {
		c.Resources.Limits, err = resourceList("limits", r.Limits.CPU, r.Limits.Memory)
		t.Spec.ContainerConcurrency = r.Limits.Concurrency
	}
	return err
}

// resourceList parses the cpu and memory quantities of deploy.options.resources.<field>.
func resourceList(field string, cpu, memory *string) (corev1.ResourceList, error) {
	l := corev1.ResourceList{}
	for _, q := range []struct {
		name corev1.ResourceName
		v    *string
	}{{corev1.ResourceCPU, cpu}, {corev1.ResourceMemory, memory}} {
		if q.v == nil {
			continue
		}
		v, err := resource.ParseQuantity(*q.v)
		if err != nil {
			return nil, fmt.Errorf("deploy.options.resources.%s.%s %q: %w", field, q.name, *q.v, err)
		}
		l[q.name] = v
	}
	return l, nil
}

// ValidateService runs what Knative's admission webhook runs when the Service
// is created.
func ValidateService(ctx context.Context, svc *servingv1.Service) error {
	if err := admit(apis.WithinCreate(ctx), svc); err != nil {
		return fmt.Errorf("Knative rejects Service %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	return nil
}

// admit runs what Knative's admission webhook runs on a copy of obj: its
// defaults, then its validation.
func admit[T interface {
	apis.Defaultable
	apis.Validatable
	DeepCopy() T
}](ctx context.Context, obj T) error {
	obj = obj.DeepCopy()
	obj.SetDefaults(ctx)
	if err := obj.Validate(ctx); err != nil {
		return err // not returned directly: a nil *apis.FieldError is no nil error
	}
	return nil
}

func httpProbe(path string) *corev1.Probe {
	return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
		Path: path, Port: intstr.FromInt32(funcHTTPPort),
	}}}
}

// mergePatch applies a YAML merge patch (RFC 7386, kubectl patch --type=merge)
// to a copy of svc.
func mergePatch(svc *servingv1.Service, patch []byte) (*servingv1.Service, error) {
	p, err := yaml.YAMLToJSON(patch)
	if err != nil {
		return nil, fmt.Errorf("decode merge patch: %w", err)
	}
	doc, err := json.Marshal(svc)
	if err != nil {
		return nil, err
	}
	merged, err := jsonpatch.MergePatch(doc, p)
	if err != nil {
		return nil, fmt.Errorf("merge patch: %w", err)
	}
	out := &servingv1.Service{}
	dec := json.NewDecoder(bytes.NewReader(merged))
	dec.DisallowUnknownFields()
	if err := dec.Decode(out); err != nil {
		return nil, fmt.Errorf("merge patch: %w", err)
	}
	return out, nil
}
