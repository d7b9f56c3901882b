// Package manifest reads the Knative Eventing manifests in infra/eventing (the
// KafkaSources and the KafkaSink for dead letters), so the local dispatcher and
// the cluster share one definition of what is delivered where and how.
//
// Only the fields the dispatcher understands are accepted: an unknown field is
// an error rather than a setting that silently does nothing locally.
package manifest

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// The API versions and kinds this package reads; documents of other kinds are
// for the cluster only and are skipped.
const (
	SourceAPIVersion  = "sources.knative.dev/v1"
	SourceKind        = "KafkaSource"
	SinkAPIVersion    = "eventing.knative.dev/v1alpha1"
	SinkKind          = "KafkaSink"
	PingAPIVersion    = "sources.knative.dev/v1"
	PingKind          = "PingSource"
	ServiceAPIVersion = "serving.knative.dev/v1"
	ServiceKind       = "Service"
)

// Knative's defaults for a KafkaSource without spec.delivery.
const (
	DefaultRetry        = 10
	DefaultBackoffDelay = 300 * time.Millisecond
)

// Offset says where a consumer group without committed offsets starts.
type Offset string

// The offsets a KafkaSource accepts.
const (
	OffsetEarliest Offset = "earliest"
	OffsetLatest   Offset = "latest"
)

// Ordering says how many events of one partition may be in flight.
type Ordering string

// The orderings a KafkaSource accepts.
const (
	Ordered   Ordering = "ordered"
	Unordered Ordering = "unordered"
)

// BackoffPolicy says how the delay between retries grows.
type BackoffPolicy string

// The backoff policies Knative accepts.
const (
	BackoffLinear      BackoffPolicy = "linear"
	BackoffExponential BackoffPolicy = "exponential"
)

// ContentMode is how a KafkaSink writes a CloudEvent into a record.
type ContentMode string

// The content modes a KafkaSink accepts.
const (
	ContentBinary     ContentMode = "binary"
	ContentStructured ContentMode = "structured"
)

// Set is what a directory of manifests declares.
type Set struct {
	Sources []KafkaSource
	// KafkaSinks holds the KafkaSinks by name.
	KafkaSinks map[string]KafkaSink
	Pings      []PingSource
}

// KafkaSource is a sources.knative.dev/v1 KafkaSource with its defaults
// applied.
type KafkaSource struct {
	Name      string
	Namespace string
	// BootstrapServers are the cluster's addresses; local runs use their own.
	BootstrapServers []string
	Topics           []string
	ConsumerGroup    string
	InitialOffset    Offset
	Ordering         Ordering
	Delivery         Delivery
	Sink             Destination
}

// Delivery is a Knative delivery spec with its defaults applied.
type Delivery struct {
	// Retry is how many times a failed delivery is repeated after the first try.
	Retry         int
	BackoffPolicy BackoffPolicy
	BackoffDelay  time.Duration
	// Timeout bounds each attempt; zero means no bound of its own.
	Timeout time.Duration
	// DeadLetterSink receives events that failed for good; nil drops them.
	DeadLetterSink *Destination
}

// Destination is a Knative duck-typed destination: a reference to an
// addressable object, a URI, or a reference with a URI relative to it.
type Destination struct {
	Ref *Ref
	URI string
}

// Ref names an addressable object.
type Ref struct {
	APIVersion string
	Kind       string
	Name       string
	Namespace  string
}

// KafkaSink is an eventing.knative.dev/v1alpha1 KafkaSink.
type KafkaSink struct {
	Name             string
	Namespace        string
	Topic            string
	ContentMode      ContentMode
	BootstrapServers []string
}

// DefaultDelivery returns Knative's delivery settings for a KafkaSource
// without spec.delivery.
func DefaultDelivery() Delivery {
	return Delivery{Retry: DefaultRetry, BackoffPolicy: BackoffExponential, BackoffDelay: DefaultBackoffDelay}
}

// Load reads every *.yaml and *.yml file in dir, in name order, and returns
// the KafkaSources and KafkaSinks they declare. Documents of other kinds are
// skipped; a KafkaSource or KafkaSink that is malformed, has an unknown field
// or repeats a name is an error.
func Load(dir string) (Set, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return Set{}, fmt.Errorf("load manifests: %w", err)
	}
	set := Set{KafkaSinks: make(map[string]KafkaSink)}
	sources := make(map[string]bool)
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if e.IsDir() || (ext != ".yaml" && ext != ".yml") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			return Set{}, fmt.Errorf("load manifests: %w", err)
		}
		n := 0
		for _, doc := range splitDocuments(data) {
			if isBlank(doc) {
				continue
			}
			n++
			if err := set.add(doc, sources); err != nil {
				return Set{}, fmt.Errorf("load %s: document %d: %w", path, n, err)
			}
		}
	}
	return set, nil
}

// splitDocuments splits a YAML stream at its --- lines. sigs.k8s.io/yaml
// decodes only the first document of a stream.
func splitDocuments(data []byte) [][]byte {
	separator := regexp.MustCompile(`(?m)^---[ \t]*(#.*)?$`)
	var docs [][]byte
	for _, doc := range separator.Split(string(data), -1) {
		docs = append(docs, []byte(doc))
	}
	return docs
}

// add decodes one document and adds it to s if it is a kind s holds.
func (s *Set) add(doc []byte, sources map[string]bool) error {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(doc, &head); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	switch head.Kind {
	case SourceKind:
		if head.APIVersion != SourceAPIVersion {
			return fmt.Errorf("%s %s: unsupported apiVersion", head.APIVersion, head.Kind)
		}
		src, err := decodeSource(doc)
		if err != nil {
			return err
		}
		if sources[src.Name] {
			return fmt.Errorf("KafkaSource %q declared twice", src.Name)
		}
		sources[src.Name] = true
		s.Sources = append(s.Sources, src)
	case PingKind:
		if head.APIVersion != PingAPIVersion {
			return fmt.Errorf("%s %s: unsupported apiVersion", head.APIVersion, head.Kind)
		}
		ping, err := decodePing(doc)
		if err != nil {
			return err
		}
		s.Pings = append(s.Pings, ping)
	case SinkKind:
		if head.APIVersion != SinkAPIVersion {
			return fmt.Errorf("%s %s: unsupported apiVersion", head.APIVersion, head.Kind)
		}
		sink, err := decodeSink(doc)
		if err != nil {
			return err
		}
		if _, dup := s.KafkaSinks[sink.Name]; dup {
			return fmt.Errorf("KafkaSink %q declared twice", sink.Name)
		}
		s.KafkaSinks[sink.Name] = sink
	}
	return nil
}

// The wire shapes: every field the dispatcher honours and the metadata a
// manifest commonly carries. UnmarshalStrict refuses anything else.
type (
	objectMeta struct {
		Name        string            `json:"name"`
		Namespace   string            `json:"namespace"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	}
	sourceDoc struct {
		APIVersion string     `json:"apiVersion"`
		Kind       string     `json:"kind"`
		Metadata   objectMeta `json:"metadata"`
		Spec       struct {
			BootstrapServers []string        `json:"bootstrapServers"`
			Topics           []string        `json:"topics"`
			ConsumerGroup    string          `json:"consumerGroup"`
			InitialOffset    Offset          `json:"initialOffset"`
			Ordering         Ordering        `json:"ordering"`
			Delivery         *deliveryDoc    `json:"delivery"`
			Sink             *destinationDoc `json:"sink"`
		} `json:"spec"`
	}
	deliveryDoc struct {
		Retry          *int            `json:"retry"`
		BackoffPolicy  BackoffPolicy   `json:"backoffPolicy"`
		BackoffDelay   string          `json:"backoffDelay"`
		Timeout        string          `json:"timeout"`
		DeadLetterSink *destinationDoc `json:"deadLetterSink"`
	}
	destinationDoc struct {
		Ref *struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Name       string `json:"name"`
			Namespace  string `json:"namespace"`
		} `json:"ref"`
		URI string `json:"uri"`
	}
	sinkDoc struct {
		APIVersion string     `json:"apiVersion"`
		Kind       string     `json:"kind"`
		Metadata   objectMeta `json:"metadata"`
		Spec       struct {
			Topic string `json:"topic"`
			// Known to the CRD, not needed here: the local Kafka's topics
			// come from infra/kafka's KafkaTopics.
			NumPartitions     int32       `json:"numPartitions"`
			ReplicationFactor int16       `json:"replicationFactor"`
			ContentMode       ContentMode `json:"contentMode"`
			BootstrapServers  []string    `json:"bootstrapServers"`
		} `json:"spec"`
	}
)

func decodeSource(doc []byte) (KafkaSource, error) {
	var d sourceDoc
	if err := yaml.UnmarshalStrict(doc, &d); err != nil {
		return KafkaSource{}, fmt.Errorf("decode KafkaSource: %w", err)
	}
	name := d.Metadata.Name
	if name == "" {
		return KafkaSource{}, errors.New("KafkaSource without metadata.name")
	}
	src := KafkaSource{
		Name:             name,
		Namespace:        cmp.Or(d.Metadata.Namespace, "default"),
		BootstrapServers: d.Spec.BootstrapServers,
		Topics:           d.Spec.Topics,
		ConsumerGroup:    d.Spec.ConsumerGroup,
		// Knative starts a new consumer group at the end of the topic.
		InitialOffset: cmp.Or(d.Spec.InitialOffset, OffsetLatest),
		Ordering:      cmp.Or(d.Spec.Ordering, Ordered),
		Delivery:      DefaultDelivery(),
	}
	if len(src.Topics) == 0 || slices.Contains(src.Topics, "") {
		return KafkaSource{}, fmt.Errorf("KafkaSource %s: spec.topics: want one or more topic names", name)
	}
	// Knative invents a group name when none is given; locally the name has
	// to be stable across runs, or every start would begin afresh.
	if src.ConsumerGroup == "" {
		return KafkaSource{}, fmt.Errorf("KafkaSource %s: spec.consumerGroup is required", name)
	}
	if src.InitialOffset != OffsetEarliest && src.InitialOffset != OffsetLatest {
		return KafkaSource{}, fmt.Errorf("KafkaSource %s: spec.initialOffset %q: want earliest or latest", name, src.InitialOffset)
	}
	if src.Ordering != Ordered && src.Ordering != Unordered {
		return KafkaSource{}, fmt.Errorf("KafkaSource %s: spec.ordering %q: want ordered or unordered", name, src.Ordering)
	}
	if d.Spec.Sink == nil {
		return KafkaSource{}, fmt.Errorf("KafkaSource %s: spec.sink is required", name)
	}
	sink, err := d.Spec.Sink.destination()
	if err != nil {
		return KafkaSource{}, fmt.Errorf("KafkaSource %s: spec.sink: %w", name, err)
	}
	src.Sink = sink
	if d.Spec.Delivery != nil {
		if src.Delivery, err = d.Spec.Delivery.delivery(); err != nil {
			return KafkaSource{}, fmt.Errorf("KafkaSource %s: spec.delivery: %w", name, err)
		}
	}
	return src, nil
}

// delivery applies Knative's semantics for a delivery spec that is present:
// an absent retry means no retries, an absent policy is exponential. An absent
// backoffDelay takes the same 0.3 s as an absent spec, so retries never spin.
func (d *deliveryDoc) delivery() (Delivery, error) {
	out := Delivery{
		BackoffPolicy: cmp.Or(d.BackoffPolicy, BackoffExponential),
		BackoffDelay:  DefaultBackoffDelay,
	}
	if d.Retry != nil {
		if *d.Retry < 0 {
			return Delivery{}, fmt.Errorf("retry %d: must not be negative", *d.Retry)
		}
		out.Retry = *d.Retry
	}
	if out.BackoffPolicy != BackoffLinear && out.BackoffPolicy != BackoffExponential {
		return Delivery{}, fmt.Errorf("backoffPolicy %q: want linear or exponential", out.BackoffPolicy)
	}
	var err error
	if d.BackoffDelay != "" {
		if out.BackoffDelay, err = parseDuration(d.BackoffDelay); err != nil {
			return Delivery{}, fmt.Errorf("backoffDelay: %w", err)
		}
	}
	if d.Timeout != "" {
		if out.Timeout, err = parseDuration(d.Timeout); err != nil {
			return Delivery{}, fmt.Errorf("timeout: %w", err)
		}
	}
	if d.DeadLetterSink != nil {
		dls, err := d.DeadLetterSink.destination()
		if err != nil {
			return Delivery{}, fmt.Errorf("deadLetterSink: %w", err)
		}
		out.DeadLetterSink = &dls
	}
	return out, nil
}

func (d *destinationDoc) destination() (Destination, error) {
	if d.Ref == nil && d.URI == "" {
		return Destination{}, errors.New("want ref or uri")
	}
	out := Destination{URI: d.URI}
	if d.Ref != nil {
		if d.Ref.APIVersion == "" || d.Ref.Kind == "" || d.Ref.Name == "" {
			return Destination{}, errors.New("ref needs apiVersion, kind and name")
		}
		out.Ref = &Ref{APIVersion: d.Ref.APIVersion, Kind: d.Ref.Kind, Name: d.Ref.Name, Namespace: d.Ref.Namespace}
	}
	return out, nil
}

func decodeSink(doc []byte) (KafkaSink, error) {
	var d sinkDoc
	if err := yaml.UnmarshalStrict(doc, &d); err != nil {
		return KafkaSink{}, fmt.Errorf("decode KafkaSink: %w", err)
	}
	sink := KafkaSink{
		Name:             d.Metadata.Name,
		Namespace:        cmp.Or(d.Metadata.Namespace, "default"),
		Topic:            d.Spec.Topic,
		ContentMode:      cmp.Or(d.Spec.ContentMode, ContentBinary),
		BootstrapServers: d.Spec.BootstrapServers,
	}
	if sink.Name == "" {
		return KafkaSink{}, errors.New("KafkaSink without metadata.name")
	}
	if sink.Topic == "" {
		return KafkaSink{}, fmt.Errorf("KafkaSink %s: spec.topic is required", sink.Name)
	}
	if sink.ContentMode != ContentBinary && sink.ContentMode != ContentStructured {
		return KafkaSink{}, fmt.Errorf("KafkaSink %s: spec.contentMode %q: want binary or structured", sink.Name, sink.ContentMode)
	}
	return sink, nil
}

// isBlank reports whether a document holds nothing but comments and space.
func isBlank(doc []byte) bool {
	for line := range bytes.Lines(doc) {
		line = bytes.TrimSpace(line)
		if len(line) > 0 && line[0] != '#' {
			return false
		}
	}
	return true
}

// String returns the destination as a manifest would spell it, for errors
// and logs.
func (d Destination) String() string {
	var b strings.Builder
	if d.Ref != nil {
		fmt.Fprintf(&b, "%s %s (%s)", d.Ref.Kind, d.Ref.Name, d.Ref.APIVersion)
		if d.URI != "" {
			b.WriteString(" + ")
		}
	}
	b.WriteString(d.URI)
	return b.String()
}
