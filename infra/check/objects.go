package check

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	istionetworking "istio.io/client-go/pkg/apis/networking/v1"
	istiosecurity "istio.io/client-go/pkg/apis/security/v1"
	istiotelemetry "istio.io/client-go/pkg/apis/telemetry/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// Object is one rendered manifest, decoded into its Go type.
type Object struct {
	APIVersion, Kind string
	Namespace, Name  string
	// Value is a pointer to the typed object: *corev1.Secret,
	// *istionetworking.VirtualService, *KafkaSource, …
	Value any
	// YAML is the manifest as kustomize rendered it.
	YAML []byte
}

// String names the object the way kubectl does.
func (o Object) String() string {
	if o.Namespace == "" {
		return o.Kind + " " + o.Name
	}
	return o.Kind + " " + o.Namespace + "/" + o.Name
}

// decoders lists every kind the tree may hold and how to decode it strictly.
// A kind missing here is an error: every manifest must be checked.
func decoders() map[string]func([]byte) (any, error) {
	return map[string]func([]byte) (any, error){
		"v1/Namespace":                            strictInto[corev1.Namespace],
		"v1/ServiceAccount":                       strictInto[corev1.ServiceAccount],
		"v1/ConfigMap":                            strictInto[corev1.ConfigMap],
		"v1/Secret":                               strictInto[corev1.Secret],
		"v1/Service":                              strictInto[corev1.Service],
		"apps/v1/StatefulSet":                     strictInto[appsv1.StatefulSet],
		"sources.knative.dev/v1/KafkaSource":      strictInto[KafkaSource],
		"eventing.knative.dev/v1alpha1/KafkaSink": strictInto[KafkaSink],
		"sources.knative.dev/v1/PingSource":       strictInto[sourcesv1.PingSource],
		"kafka.strimzi.io/v1/Kafka":               strictInto[Kafka],
		"kafka.strimzi.io/v1/KafkaNodePool":       strictInto[KafkaNodePool],
		"kafka.strimzi.io/v1/KafkaTopic":          strictInto[KafkaTopic],
		"networking.istio.io/v1/Gateway": istioInto(func(o *istionetworking.Gateway) (*metav1.ObjectMeta, proto.Message) {
			return &o.ObjectMeta, &o.Spec
		}),
		"networking.istio.io/v1/VirtualService": istioInto(func(o *istionetworking.VirtualService) (*metav1.ObjectMeta, proto.Message) {
			return &o.ObjectMeta, &o.Spec
		}),
		"security.istio.io/v1/PeerAuthentication": istioInto(func(o *istiosecurity.PeerAuthentication) (*metav1.ObjectMeta, proto.Message) {
			return &o.ObjectMeta, &o.Spec
		}),
		"security.istio.io/v1/AuthorizationPolicy": istioInto(func(o *istiosecurity.AuthorizationPolicy) (*metav1.ObjectMeta, proto.Message) {
			return &o.ObjectMeta, &o.Spec
		}),
		"telemetry.istio.io/v1/Telemetry": istioInto(func(o *istiotelemetry.Telemetry) (*metav1.ObjectMeta, proto.Message) {
			return &o.ObjectMeta, &o.Spec
		}),
	}
}

// Render builds the kustomization in dir of fsys in-process, as
// `kubectl apply -k` would, and decodes every object strictly.
func Render(fsys filesys.FileSystem, dir string) (Objects, error) {
	resMap, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	dec := decoders()
	var objs Objects
	var errs []error
	for _, r := range resMap.Resources() {
		data, err := r.AsYAML()
		if err != nil {
			return nil, fmt.Errorf("render %s: %w", r.CurId(), err)
		}
		o := Object{APIVersion: r.GetApiVersion(), Kind: r.GetKind(), Namespace: r.GetNamespace(), Name: r.GetName(), YAML: data}
		decode, ok := dec[o.APIVersion+"/"+o.Kind]
		if !ok {
			errs = append(errs, fmt.Errorf("%s: %s %s is a kind this check does not know", o, o.APIVersion, o.Kind))
			continue
		}
		if o.Value, err = decode(data); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", o, err))
			continue
		}
		objs = append(objs, o)
	}
	return objs, errors.Join(errs...)
}

// strictInto decodes YAML into a new T, refusing unknown and duplicate fields.
func strictInto[T any](data []byte) (any, error) {
	v := new(T)
	if err := yaml.UnmarshalStrict(data, v); err != nil {
		return nil, fmt.Errorf("strict decoding: %w", err)
	}
	return v, nil
}

// istioInto returns a decoder of an Istio resource into its client-go type
// T; parts gives the decoder T's metadata and spec. The spec is a protobuf
// message, decoded with protojson, which refuses any field the API does not
// define — unlike the unmarshalers generated in istio.io/api, which allow
// unknown fields.
func istioInto[T any](parts func(*T) (*metav1.ObjectMeta, proto.Message)) func([]byte) (any, error) {
	return func(data []byte) (any, error) {
		var raw struct {
			APIVersion string          `json:"apiVersion"`
			Kind       string          `json:"kind"`
			Metadata   json.RawMessage `json:"metadata"`
			Spec       json.RawMessage `json:"spec"`
		}
		if err := yaml.UnmarshalStrict(data, &raw); err != nil {
			return nil, fmt.Errorf("strict decoding: %w", err)
		}
		obj := new(T)
		meta, spec := parts(obj)
		dec := json.NewDecoder(bytes.NewReader(raw.Metadata))
		dec.DisallowUnknownFields()
		if err := dec.Decode(meta); err != nil {
			return nil, fmt.Errorf("strict decoding metadata: %w", err)
		}
		if len(raw.Spec) > 0 {
			if err := protojson.Unmarshal(raw.Spec, spec); err != nil {
				return nil, fmt.Errorf("strict decoding spec: %w", err)
			}
		}
		return obj, nil
	}
}

// Objects is the rendered tree with look-ups by kind.
type Objects []Object

// All returns every object whose Value is a *T.
func All[T any](objs Objects) []*T {
	var out []*T
	for _, o := range objs {
		if v, ok := o.Value.(*T); ok {
			out = append(out, v)
		}
	}
	return out
}

// Find returns the object of kind T with that namespace and name, or nil.
func Find[T any, PT interface {
	*T
	metav1.Object
}](objs Objects, namespace, name string) *T {
	for _, v := range All[T](objs) {
		if PT(v).GetNamespace() == namespace && PT(v).GetName() == name {
			return v
		}
	}
	return nil
}

// Count returns how many objects of each kind there are, as "Kind n, …".
func (objs Objects) Count() string {
	n := map[string]int{}
	for _, o := range objs {
		n[o.Kind]++
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(n)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, n[k]))
	}
	return strings.Join(parts, ", ")
}
