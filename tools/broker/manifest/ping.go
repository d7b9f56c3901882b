package manifest

import (
	"cmp"
	"errors"
	"fmt"

	"sigs.k8s.io/yaml"
)

// PingSource is a sources.knative.dev/v1 PingSource: an event with fixed
// data sent to the sink on a cron schedule.
type PingSource struct {
	Name      string
	Namespace string
	// Schedule is a standard five-field cron expression, in UTC locally.
	Schedule    string
	ContentType string
	Data        string
	Sink        Destination
}

type pingDoc struct {
	APIVersion string     `json:"apiVersion"`
	Kind       string     `json:"kind"`
	Metadata   objectMeta `json:"metadata"`
	Spec       struct {
		Schedule    string          `json:"schedule"`
		ContentType string          `json:"contentType"`
		Data        string          `json:"data"`
		Sink        *destinationDoc `json:"sink"`
	} `json:"spec"`
}

func decodePing(doc []byte) (PingSource, error) {
	var d pingDoc
	if err := yaml.UnmarshalStrict(doc, &d); err != nil {
		return PingSource{}, fmt.Errorf("decode PingSource: %w", err)
	}
	p := PingSource{
		Name:        d.Metadata.Name,
		Namespace:   cmp.Or(d.Metadata.Namespace, "default"),
		Schedule:    d.Spec.Schedule,
		ContentType: d.Spec.ContentType,
		Data:        d.Spec.Data,
	}
	if p.Name == "" {
		return PingSource{}, errors.New("PingSource without metadata.name")
	}
	if p.Schedule == "" {
		return PingSource{}, fmt.Errorf("PingSource %s: spec.schedule is required", p.Name)
	}
	if d.Spec.Sink == nil {
		return PingSource{}, fmt.Errorf("PingSource %s: spec.sink is required", p.Name)
	}
	sink, err := d.Spec.Sink.destination()
	if err != nil {
		return PingSource{}, fmt.Errorf("PingSource %s: spec.sink: %w", p.Name, err)
	}
	p.Sink = sink
	return p, nil
}
