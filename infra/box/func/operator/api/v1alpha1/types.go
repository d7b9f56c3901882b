// Package v1alpha1 is a stand-in for the func operator's API types: the names
// knative.dev/func's pkg/operator compiles against, nothing more.
package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is the API group and version of the operator's Function.
var GroupVersion = schema.GroupVersion{Group: "functions.dev", Version: "v1alpha1"}

// AddToScheme registers Function and FunctionList.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &Function{}, &FunctionList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}

// FunctionSpecRepository names the function's source repository.
type FunctionSpecRepository struct {
	URL    string `json:"url"`
	Branch string `json:"branch,omitempty"`
	Path   string `json:"path,omitempty"`
}

// FunctionSpecRegistry names the registry credentials.
type FunctionSpecRegistry struct {
	AuthSecretRef *corev1.LocalObjectReference `json:"authSecretRef,omitempty"`
}

// FunctionSpec is the desired state of a Function.
type FunctionSpec struct {
	Repository FunctionSpecRepository `json:"repository"`
	Registry   FunctionSpecRegistry   `json:"registry,omitempty"`
}

// FunctionStatus is the observed state of a Function.
type FunctionStatus struct {
	Name string `json:"name,omitempty"`
}

// Function is the operator's custom resource.
type Function struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              FunctionSpec   `json:"spec,omitempty"`
	Status            FunctionStatus `json:"status,omitempty"`
}

// FunctionList is a list of Functions.
type FunctionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Function `json:"items"`
}

// DeepCopyObject copies the Function.
func (f *Function) DeepCopyObject() runtime.Object {
	c := *f
	f.ObjectMeta.DeepCopyInto(&c.ObjectMeta)
	if r := f.Spec.Registry.AuthSecretRef; r != nil {
		ref := *r
		c.Spec.Registry.AuthSecretRef = &ref
	}
	return &c
}

// DeepCopyObject copies the FunctionList.
func (l *FunctionList) DeepCopyObject() runtime.Object {
	c := *l
	l.ListMeta.DeepCopyInto(&c.ListMeta)
	c.Items = make([]Function, len(l.Items))
	for i := range l.Items {
		c.Items[i] = *l.Items[i].DeepCopyObject().(*Function)
	}
	return &c
}
