// Package manifest reads the Knative Eventing manifests in infra/eventing (the
// KafkaSources, the PingSources and the KafkaSink for dead letters), so the
// local dispatcher and the cluster share one definition of what is delivered
// where and how.
//
// Only the fields the dispatcher understands are accepted: an unknown field is
// an error rather than a setting that silently does nothing locally.
package manifest

import (
	"cmp"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
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

// defaultBackoffDelay is Knative's for a KafkaSource without spec.delivery
// or spec.delivery.backoffDelay: "PT0.3S" (knative.dev/eventing-kafka-broker
// v0.50.1, control-plane/pkg/reconciler/source/source.go,
// reconcileConsumerGroup).
const defaultBackoffDelay = 300 * time.Millisecond

// The settings that take one of a few values.
type (
	// Offset says where a consumer group without committed offsets starts.
	Offset string
	// Ordering says how many events of one partition may be in flight.
	Ordering string
	// BackoffPolicy says how the delay between retries grows.
	BackoffPolicy string
	// ContentMode is how a KafkaSink writes a CloudEvent into a record.
	ContentMode string
)

// The values Knative accepts for them.
const (
	OffsetEarliest     Offset        = "earliest"
	OffsetLatest       Offset        = "latest"
	Ordered            Ordering      = "ordered"
	Unordered          Ordering      = "unordered"
	BackoffLinear      BackoffPolicy = "linear"
	BackoffExponential BackoffPolicy = "exponential"
	ContentBinary      ContentMode   = "binary"
	ContentStructured  ContentMode   = "structured"
)

// Set is what a directory of manifests declares.
type Set struct {
	Sources []KafkaSource
	// KafkaSinks holds the KafkaSinks by name.
	KafkaSinks map[string]KafkaSink
	Pings      []PingSource
}

// The public types below double as the wire shapes of their specs: their
// JSON names are the manifests'. Name and Namespace come from metadata.

// KafkaSource is a sources.knative.dev/v1 KafkaSource with its defaults
// applied.
type KafkaSource struct {
	Name      string `json:"-"`
	Namespace string `json:"-"`
	// BootstrapServers are the cluster's addresses; local runs use their own.
	BootstrapServers []string    `json:"bootstrapServers"`
	Topics           []string    `json:"topics"`
	ConsumerGroup    string      `json:"consumerGroup"`
	InitialOffset    Offset      `json:"initialOffset"`
	Ordering         Ordering    `json:"ordering"`
	Delivery         Delivery    `json:"-"` // decoded from a deliverySpec
	Sink             Destination `json:"sink"`
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
	Ref *Ref   `json:"ref"`
	URI string `json:"uri"`
}

// Ref names an addressable object.
type Ref struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	Namespace  string `json:"namespace"`
}

// KafkaSink is an eventing.knative.dev/v1alpha1 KafkaSink.
type KafkaSink struct {
	Name             string      `json:"-"`
	Namespace        string      `json:"-"`
	Topic            string      `json:"topic"`
	ContentMode      ContentMode `json:"contentMode"`
	BootstrapServers []string    `json:"bootstrapServers"`
}

// PingSource is a sources.knative.dev/v1 PingSource: an event with fixed
// data sent to the sink on a cron schedule.
type PingSource struct {
	Name      string `json:"-"`
	Namespace string `json:"-"`
	// Schedule is a standard five-field cron expression, in UTC locally.
	Schedule    string      `json:"schedule"`
	ContentType string      `json:"contentType"`
	Data        string      `json:"data"`
	Sink        Destination `json:"sink"`
}

// DefaultDelivery returns Knative's delivery settings for a KafkaSource
// without spec.delivery: retry 10, exponential, PT0.3S (the same
// source.go, reconcileConsumerGroup).
func DefaultDelivery() Delivery {
	return Delivery{Retry: 10, BackoffPolicy: BackoffExponential, BackoffDelay: defaultBackoffDelay}
}

// Load reads the manifests in dir (see EachDocument) and returns the
// KafkaSources, KafkaSinks and PingSources they declare. Documents of other
// kinds are skipped; one of these kinds that is malformed, has an unknown
// field or repeats a name is an error.
func Load(dir string) (Set, error) {
	set := Set{KafkaSinks: make(map[string]KafkaSink)}
	// Not "return set, EachDocument(…)": Go leaves open whether set is read
	// before or after the call that fills it.
	if err := EachDocument(dir, set.add); err != nil {
		return Set{}, err
	}
	return set, nil
}

// EachDocument calls f with each document of every *.yaml and *.yml file in
// dir, in name order, that holds more than comments; an error names the
// file and the document. sigs.k8s.io/yaml decodes only the first document
// of a stream, so the files are split at their --- lines here.
func EachDocument(dir string, f func(doc []byte) error) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("load manifests: %w", err)
	}
	separator := regexp.MustCompile(`(?m)^---[ \t]*(#.*)?$`)
	for _, e := range entries {
		ext := filepath.Ext(e.Name())
		if e.IsDir() || (ext != ".yaml" && ext != ".yml") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("load manifests: %w", err)
		}
		n := 0
		for _, doc := range separator.Split(string(data), -1) {
			var v any
			if yaml.Unmarshal([]byte(doc), &v) == nil && v == nil {
				continue // nothing but comments
			}
			n++
			if err := f([]byte(doc)); err != nil {
				return fmt.Errorf("load %s: document %d: %w", path, n, err)
			}
		}
	}
	return nil
}

// add decodes one document and adds it to s if it is a kind s holds.
func (s *Set) add(doc []byte) error {
	var head struct{ APIVersion, Kind string }
	if err := yaml.Unmarshal(doc, &head); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	want, ok := map[string]string{SourceKind: SourceAPIVersion, PingKind: PingAPIVersion, SinkKind: SinkAPIVersion}[head.Kind]
	if !ok {
		return nil
	}
	if head.APIVersion != want {
		return fmt.Errorf("%s %s: unsupported apiVersion", head.APIVersion, head.Kind)
	}
	switch head.Kind {
	case SourceKind:
		return s.addSource(doc)
	case PingKind:
		return s.addPing(doc)
	default:
		return s.addSink(doc)
	}
}

// Decode decodes a manifest of the given kind whose spec is S, refusing any
// field S or the common metadata does not name, and returns its spec, its
// name (required) and its namespace ("default" when none is given).
func Decode[S any](doc []byte, kind string) (spec S, name, namespace string, err error) {
	var o struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name        string            `json:"name"`
			Namespace   string            `json:"namespace"`
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
		Spec S `json:"spec"`
	}
	if err := yaml.UnmarshalStrict(doc, &o); err != nil {
		return spec, "", "", fmt.Errorf("decode %s: %w", kind, err)
	}
	if o.Metadata.Name == "" {
		return spec, "", "", fmt.Errorf("%s without metadata.name", kind)
	}
	return o.Spec, o.Metadata.Name, cmp.Or(o.Metadata.Namespace, "default"), nil
}

// deliverySpec is the wire shape of a delivery spec.
type deliverySpec struct {
	Retry          *int          `json:"retry"`
	BackoffPolicy  BackoffPolicy `json:"backoffPolicy"`
	BackoffDelay   string        `json:"backoffDelay"`
	Timeout        string        `json:"timeout"`
	DeadLetterSink *Destination  `json:"deadLetterSink"`
}

func (s *Set) addSource(doc []byte) error {
	spec, name, ns, err := Decode[struct {
		KafkaSource
		DeliverySpec *deliverySpec `json:"delivery"`
	}](doc, SourceKind)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(s.Sources, func(o KafkaSource) bool { return o.Name == name }) {
		return fmt.Errorf("KafkaSource %q declared twice", name)
	}
	src := spec.KafkaSource
	src.Name, src.Namespace, src.Delivery = name, ns, DefaultDelivery()
	// Knative starts a new consumer group at the end of the topic.
	src.InitialOffset = cmp.Or(src.InitialOffset, OffsetLatest)
	src.Ordering = cmp.Or(src.Ordering, Ordered)
	if len(src.Topics) == 0 || slices.Contains(src.Topics, "") {
		return fmt.Errorf("KafkaSource %s: spec.topics: want one or more topic names", name)
	}
	// Knative invents a group name when none is given; locally the name has
	// to be stable across runs, or every start would begin afresh.
	if src.ConsumerGroup == "" {
		return fmt.Errorf("KafkaSource %s: spec.consumerGroup is required", name)
	}
	if err := cmp.Or(oneOf("spec.initialOffset", src.InitialOffset, OffsetEarliest, OffsetLatest),
		oneOf("spec.ordering", src.Ordering, Ordered, Unordered), src.Sink.check("spec.sink")); err != nil {
		return fmt.Errorf("KafkaSource %s: %w", name, err)
	}
	if spec.DeliverySpec != nil {
		if src.Delivery, err = spec.DeliverySpec.delivery(); err != nil {
			return fmt.Errorf("KafkaSource %s: spec.delivery: %w", name, err)
		}
	}
	s.Sources = append(s.Sources, src)
	return nil
}

// delivery applies Knative's semantics for a delivery spec that is present:
// an absent retry means no retries, an absent policy is exponential. An absent
// backoffDelay takes the same 0.3 s as an absent spec, so retries never spin.
func (d *deliverySpec) delivery() (Delivery, error) {
	out := Delivery{BackoffPolicy: cmp.Or(d.BackoffPolicy, BackoffExponential), BackoffDelay: defaultBackoffDelay,
		DeadLetterSink: d.DeadLetterSink}
	if d.Retry != nil {
		if *d.Retry < 0 {
			return Delivery{}, fmt.Errorf("retry %d: must not be negative", *d.Retry)
		}
		out.Retry = *d.Retry
	}
	if err := oneOf("backoffPolicy", out.BackoffPolicy, BackoffLinear, BackoffExponential); err != nil {
		return Delivery{}, err
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
		return out, d.DeadLetterSink.check("deadLetterSink")
	}
	return out, nil
}

func (s *Set) addSink(doc []byte) error {
	spec, name, ns, err := Decode[struct {
		KafkaSink
		// Known to the CRD, not needed here: the local Kafka's topics
		// come from infra/kafka's KafkaTopics.
		NumPartitions     int32 `json:"numPartitions"`
		ReplicationFactor int16 `json:"replicationFactor"`
	}](doc, SinkKind)
	if err != nil {
		return err
	}
	if _, dup := s.KafkaSinks[name]; dup {
		return fmt.Errorf("KafkaSink %q declared twice", name)
	}
	sink := spec.KafkaSink
	sink.Name, sink.Namespace, sink.ContentMode = name, ns, cmp.Or(sink.ContentMode, ContentBinary)
	if sink.Topic == "" {
		return fmt.Errorf("KafkaSink %s: spec.topic is required", name)
	}
	if err := oneOf("spec.contentMode", sink.ContentMode, ContentBinary, ContentStructured); err != nil {
		return fmt.Errorf("KafkaSink %s: %w", name, err)
	}
	s.KafkaSinks[name] = sink
	return nil
}

func (s *Set) addPing(doc []byte) error {
	p, name, ns, err := Decode[PingSource](doc, PingKind)
	if err != nil {
		return err
	}
	p.Name, p.Namespace = name, ns
	if p.Schedule == "" {
		return fmt.Errorf("PingSource %s: spec.schedule is required", name)
	}
	if err := p.Sink.check("spec.sink"); err != nil {
		return fmt.Errorf("PingSource %s: %w", name, err)
	}
	s.Pings = append(s.Pings, p)
	return nil
}

// oneOf returns an error naming field unless v is one of allowed.
func oneOf[T ~string](field string, v T, allowed ...T) error {
	if slices.Contains(allowed, v) {
		return nil
	}
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = string(a)
	}
	return fmt.Errorf("%s %q: want %s", field, v, strings.Join(names, " or "))
}

// check returns an error naming field unless d is a ref, a URI or both.
func (d Destination) check(field string) error {
	switch {
	case d.Ref == nil && d.URI == "":
		return fmt.Errorf("%s: want ref or uri", field)
	case d.Ref != nil && (d.Ref.APIVersion == "" || d.Ref.Kind == "" || d.Ref.Name == ""):
		return fmt.Errorf("%s: ref needs apiVersion, kind and name", field)
	}
	return nil
}

// String returns the destination as a manifest would spell it, for errors
// and logs.
func (d Destination) String() string {
	if d.Ref == nil {
		return d.URI
	}
	s := fmt.Sprintf("%s %s (%s)", d.Ref.Kind, d.Ref.Name, d.Ref.APIVersion)
	if d.URI != "" {
		s += " + " + d.URI
	}
	return s
}

// parseDuration parses the ISO-8601 durations Knative uses in a delivery
// spec: PT0.2S, PT1M30S, PT10S, P1DT2H. Years and months are refused because
// their length depends on the calendar and no delivery setting needs them.
// Any component may carry a decimal fraction (point or comma), as ISO-8601
// allows.
func parseDuration(s string) (time.Duration, error) {
	const n = `(\d+(?:[.,]\d+)?)`
	m := regexp.MustCompile(`^P(?:` + n + `W)?(?:` + n + `D)?(?:T(?:` + n + `H)?(?:` + n + `M)?(?:` + n + `S)?)?$`).FindStringSubmatch(s)
	// The pattern lets a P or a T through with no component after it.
	if m == nil || strings.Join(m[1:], "") == "" || strings.HasSuffix(s, "T") {
		return 0, fmt.Errorf("parse duration %q: not an ISO-8601 duration", s)
	}
	var total float64 // nanoseconds
	for i, unit := range []time.Duration{7 * 24 * time.Hour, 24 * time.Hour, time.Hour, time.Minute, time.Second} {
		if m[i+1] != "" {
			v, _ := strconv.ParseFloat(strings.Replace(m[i+1], ",", ".", 1), 64)
			total += v * float64(unit)
		}
	}
	if total >= math.MaxInt64 {
		return 0, fmt.Errorf("parse duration %q: out of range", s)
	}
	return time.Duration(math.Round(total)), nil
}

// URL returns where d is reached over HTTP locally: a Knative Service at its
// base URL in services (by name), a URI as it is. A URI beside a ref is
// relative to the ref's URL, as in Knative.
func (d Destination) URL(services map[string]string) (string, error) {
	if d.Ref == nil {
		u, err := httpURL(d.URI)
		if err != nil {
			return "", fmt.Errorf("resolve %s: %w", d, err)
		}
		return u.String(), nil
	}
	if r := d.Ref; r.Kind != ServiceKind || (r.APIVersion != ServiceAPIVersion && r.APIVersion != "v1") {
		return "", fmt.Errorf("resolve %s: unsupported kind", d)
	}
	raw, ok := services[d.Ref.Name]
	if !ok {
		return "", fmt.Errorf("resolve %s: no local URL for service %q", d, d.Ref.Name)
	}
	base, err := httpURL(raw)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", d, err)
	}
	if d.URI != "" {
		rel, err := url.Parse(d.URI)
		if err != nil || rel.IsAbs() {
			return "", fmt.Errorf("resolve %s: uri beside a ref must be a relative URL", d)
		}
		base = base.ResolveReference(rel)
	}
	return base.String(), nil
}

func httpURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("parse sink URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("sink URL %q: want an absolute http(s) URL", raw)
	}
	return u, nil
}
