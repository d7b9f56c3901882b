package check

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	eventingduckv1 "knative.dev/eventing/pkg/apis/duck/v1"
	"knative.dev/eventing/pkg/apis/feature"
	"knative.dev/pkg/apis"
	duckv1 "knative.dev/pkg/apis/duck/v1"
)

// The Go types of KafkaSource and KafkaSink live in
// knative-extensions/eventing-kafka-broker, which the Go module proxy does not
// serve. These mirror its control-plane/pkg/apis (knative-v1.23.0): every
// documented field, so strict decoding refuses a misspelt one, with Knative's
// own types (knative.dev/eventing, knative.dev/pkg) for the shared parts,
// whose Validate methods then run as they do in the webhook.

// KafkaSource is a sources.knative.dev/v1 KafkaSource.
type KafkaSource struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              KafkaSourceSpec `json:"spec"`
}

// KafkaSourceSpec is control-plane/pkg/apis/sources/v1.KafkaSourceSpec.
type KafkaSourceSpec struct {
	Consumers         *int32                       `json:"consumers,omitempty"`
	BootstrapServers  []string                     `json:"bootstrapServers"`
	Net               *KafkaNet                    `json:"net,omitempty"`
	Topics            []string                     `json:"topics"`
	ConsumerGroup     string                       `json:"consumerGroup,omitempty"`
	InitialOffset     string                       `json:"initialOffset,omitempty"`
	Delivery          *eventingduckv1.DeliverySpec `json:"delivery,omitempty"`
	Ordering          *string                      `json:"ordering,omitempty"`
	duckv1.SourceSpec `json:",inline"`
}

// KafkaNet is bindings/v1.KafkaNetSpec: SASL and TLS from Secrets.
type KafkaNet struct {
	SASL struct {
		Enable   bool         `json:"enable,omitempty"`
		User     SecretKeyRef `json:"user,omitempty"`
		Password SecretKeyRef `json:"password,omitempty"`
		Type     SecretKeyRef `json:"type,omitempty"`
	} `json:"sasl,omitempty"`
	TLS struct {
		Enable bool         `json:"enable,omitempty"`
		Cert   SecretKeyRef `json:"cert,omitempty"`
		Key    SecretKeyRef `json:"key,omitempty"`
		CACert SecretKeyRef `json:"caCert,omitempty"`
	} `json:"tls,omitempty"`
}

// SecretKeyRef is bindings/v1.SecretValueFromSource.
type SecretKeyRef struct {
	SecretKeyRef *struct {
		Name     string `json:"name"`
		Key      string `json:"key"`
		Optional *bool  `json:"optional,omitempty"`
	} `json:"secretKeyRef,omitempty"`
}

// Validate runs the KafkaSource webhook's checks after its defaults
// (kafka_validation.go, kafka_defaults.go), and, which that webhook does
// not, Knative's validation of the delivery spec, as a Trigger or
// Subscription would get it.
func (s *KafkaSource) Validate(ctx context.Context) error {
	var errs *apis.FieldError
	sp := s.Spec
	errs = errs.Also(sp.SourceSpec.Validate(ctx))
	if len(sp.Topics) == 0 {
		errs = errs.Also(apis.ErrMissingField("topics"))
	}
	if len(sp.BootstrapServers) == 0 {
		errs = errs.Also(apis.ErrMissingField("bootstrapServers"))
	}
	switch cmp.Or(sp.InitialOffset, "latest") {
	case "earliest", "latest":
	default:
		errs = errs.Also(apis.ErrInvalidValue(sp.InitialOffset, "initialOffset"))
	}
	if sp.Ordering != nil && *sp.Ordering != "ordered" && *sp.Ordering != "unordered" {
		errs = errs.Also(apis.ErrInvalidValue(*sp.Ordering, "ordering"))
	}
	if sp.Consumers != nil && *sp.Consumers < 1 {
		errs = errs.Also(apis.ErrInvalidValue(*sp.Consumers, "consumers"))
	}
	// Knative Eventing's default features (config-features left as installed).
	flags, err := feature.NewFlagsConfigFromMap(nil)
	if err != nil {
		return fmt.Errorf("eventing's default features: %w", err)
	}
	errs = errs.Also(sp.Delivery.Validate(feature.ToContext(ctx, flags)).ViaField("delivery"))
	if errs != nil {
		return errs.ViaField("spec")
	}
	return nil
}

// KafkaSink is an eventing.knative.dev/v1alpha1 KafkaSink.
type KafkaSink struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Topic             string   `json:"topic"`
		NumPartitions     *int32   `json:"numPartitions,omitempty"`
		ReplicationFactor *int16   `json:"replicationFactor,omitempty"`
		BootstrapServers  []string `json:"bootstrapServers"`
		ContentMode       *string  `json:"contentMode,omitempty"`
		Auth              *struct {
			Secret *struct {
				Ref *struct {
					Name string `json:"name,omitempty"`
				} `json:"ref,omitempty"`
			} `json:"secret,omitempty"`
		} `json:"auth,omitempty"`
	} `json:"spec"`
}

// Validate runs the KafkaSink webhook's checks (kafka_sink_validation.go)
// after its default content mode (binary).
func (s *KafkaSink) Validate() error {
	var errs *apis.FieldError
	sp := s.Spec
	if mode := ptr.Deref(sp.ContentMode, ""); mode != "" && mode != "binary" && mode != "structured" {
		errs = errs.Also(apis.ErrInvalidValue(mode, "contentMode"))
	}
	if len(sp.BootstrapServers) == 0 {
		errs = errs.Also(apis.ErrInvalidValue(sp.BootstrapServers, "bootstrapServers"))
	}
	if sp.Topic == "" {
		errs = errs.Also(apis.ErrInvalidValue(sp.Topic, "topic"))
	}
	if sp.ReplicationFactor != nil && *sp.ReplicationFactor <= 0 {
		errs = errs.Also(apis.ErrInvalidValue(*sp.ReplicationFactor, "replicationFactor"))
	}
	if sp.NumPartitions != nil && *sp.NumPartitions <= 0 {
		errs = errs.Also(apis.ErrInvalidValue(*sp.NumPartitions, "numPartitions"))
	}
	if errs != nil {
		return errs.ViaField("spec")
	}
	return nil
}

// The Strimzi resources, kafka.strimzi.io/v1 (Strimzi 1.x; the CRDs in
// packaging/install/cluster-operator of strimzi/strimzi-kafka-operator
// 1.2.0). Fields this repository sets are typed; the other documented ones
// are accepted as they are (json.RawMessage), so that only a field the CRD
// does not have is refused.

// Kafka is a Strimzi Kafka cluster.
type Kafka struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Kafka struct {
			Version         string           `json:"version,omitempty"`
			MetadataVersion string           `json:"metadataVersion,omitempty"`
			Image           string           `json:"image,omitempty"`
			Listeners       []KafkaListener  `json:"listeners"`
			Config          map[string]any   `json:"config,omitempty"`
			Template        *StrimziTemplate `json:"template,omitempty"`
			// Documented, not used here.
			Authorization       json.RawMessage `json:"authorization,omitempty"`
			Rack                json.RawMessage `json:"rack,omitempty"`
			BrokerRackInitImage json.RawMessage `json:"brokerRackInitImage,omitempty"`
			LivenessProbe       json.RawMessage `json:"livenessProbe,omitempty"`
			ReadinessProbe      json.RawMessage `json:"readinessProbe,omitempty"`
			JVMOptions          json.RawMessage `json:"jvmOptions,omitempty"`
			JMXOptions          json.RawMessage `json:"jmxOptions,omitempty"`
			MetricsConfig       json.RawMessage `json:"metricsConfig,omitempty"`
			Logging             json.RawMessage `json:"logging,omitempty"`
			TieredStorage       json.RawMessage `json:"tieredStorage,omitempty"`
			Quotas              json.RawMessage `json:"quotas,omitempty"`
		} `json:"kafka"`
		EntityOperator *struct {
			TopicOperator *struct {
				WatchedNamespace         string          `json:"watchedNamespace,omitempty"`
				Image                    json.RawMessage `json:"image,omitempty"`
				ReconciliationIntervalMs json.RawMessage `json:"reconciliationIntervalMs,omitempty"`
				StartupProbe             json.RawMessage `json:"startupProbe,omitempty"`
				LivenessProbe            json.RawMessage `json:"livenessProbe,omitempty"`
				ReadinessProbe           json.RawMessage `json:"readinessProbe,omitempty"`
				Resources                json.RawMessage `json:"resources,omitempty"`
				Logging                  json.RawMessage `json:"logging,omitempty"`
				JVMOptions               json.RawMessage `json:"jvmOptions,omitempty"`
			} `json:"topicOperator,omitempty"`
			UserOperator json.RawMessage  `json:"userOperator,omitempty"`
			Template     *StrimziTemplate `json:"template,omitempty"`
		} `json:"entityOperator,omitempty"`
		ClusterCa              json.RawMessage `json:"clusterCa,omitempty"`
		ClientsCa              json.RawMessage `json:"clientsCa,omitempty"`
		CruiseControl          json.RawMessage `json:"cruiseControl,omitempty"`
		KafkaExporter          json.RawMessage `json:"kafkaExporter,omitempty"`
		MaintenanceTimeWindows json.RawMessage `json:"maintenanceTimeWindows,omitempty"`
	} `json:"spec"`
}

// KafkaListener is one entry of spec.kafka.listeners.
type KafkaListener struct {
	Name               string          `json:"name"`
	Port               int32           `json:"port"`
	Type               string          `json:"type"`
	TLS                *bool           `json:"tls"`
	Authentication     json.RawMessage `json:"authentication,omitempty"`
	Configuration      json.RawMessage `json:"configuration,omitempty"`
	NetworkPolicyPeers json.RawMessage `json:"networkPolicyPeers,omitempty"`
}

// StrimziTemplate is a Strimzi "template" object. The keys of all its kinds
// (Kafka, node pool, entity operator) are listed; the pod's metadata is
// typed, the rest is accepted as it is.
type StrimziTemplate struct {
	Pod *struct {
		Metadata *struct {
			Labels      map[string]string `json:"labels,omitempty"`
			Annotations map[string]string `json:"annotations,omitempty"`
		} `json:"metadata,omitempty"`
		ImagePullSecrets              json.RawMessage `json:"imagePullSecrets,omitempty"`
		SecurityContext               json.RawMessage `json:"securityContext,omitempty"`
		TerminationGracePeriodSeconds json.RawMessage `json:"terminationGracePeriodSeconds,omitempty"`
		Affinity                      json.RawMessage `json:"affinity,omitempty"`
		Tolerations                   json.RawMessage `json:"tolerations,omitempty"`
		TopologySpreadConstraints     json.RawMessage `json:"topologySpreadConstraints,omitempty"`
		PriorityClassName             json.RawMessage `json:"priorityClassName,omitempty"`
		SchedulerName                 json.RawMessage `json:"schedulerName,omitempty"`
		HostAliases                   json.RawMessage `json:"hostAliases,omitempty"`
		DNSPolicy                     json.RawMessage `json:"dnsPolicy,omitempty"`
		DNSConfig                     json.RawMessage `json:"dnsConfig,omitempty"`
		EnableServiceLinks            json.RawMessage `json:"enableServiceLinks,omitempty"`
		TmpDirSizeLimit               json.RawMessage `json:"tmpDirSizeLimit,omitempty"`
		Volumes                       json.RawMessage `json:"volumes,omitempty"`
		TemplatedVolumes              json.RawMessage `json:"templatedVolumes,omitempty"`
		HostUsers                     json.RawMessage `json:"hostUsers,omitempty"`
	} `json:"pod,omitempty"`
	PodSet                   json.RawMessage `json:"podSet,omitempty"`
	PerPodService            json.RawMessage `json:"perPodService,omitempty"`
	PerPodRoute              json.RawMessage `json:"perPodRoute,omitempty"`
	PerPodIngress            json.RawMessage `json:"perPodIngress,omitempty"`
	PersistentVolumeClaim    json.RawMessage `json:"persistentVolumeClaim,omitempty"`
	KafkaContainer           json.RawMessage `json:"kafkaContainer,omitempty"`
	InitContainer            json.RawMessage `json:"initContainer,omitempty"`
	BootstrapService         json.RawMessage `json:"bootstrapService,omitempty"`
	BrokersService           json.RawMessage `json:"brokersService,omitempty"`
	ExternalBootstrapService json.RawMessage `json:"externalBootstrapService,omitempty"`
	ExternalBootstrapRoute   json.RawMessage `json:"externalBootstrapRoute,omitempty"`
	ExternalBootstrapIngress json.RawMessage `json:"externalBootstrapIngress,omitempty"`
	PodDisruptionBudget      json.RawMessage `json:"podDisruptionBudget,omitempty"`
	ClusterCaCert            json.RawMessage `json:"clusterCaCert,omitempty"`
	ServiceAccount           json.RawMessage `json:"serviceAccount,omitempty"`
	JMXSecret                json.RawMessage `json:"jmxSecret,omitempty"`
	ClusterRoleBinding       json.RawMessage `json:"clusterRoleBinding,omitempty"`
	Deployment               json.RawMessage `json:"deployment,omitempty"`
	TopicOperatorContainer   json.RawMessage `json:"topicOperatorContainer,omitempty"`
	UserOperatorContainer    json.RawMessage `json:"userOperatorContainer,omitempty"`
	EntityOperatorRole       json.RawMessage `json:"entityOperatorRole,omitempty"`
	TopicOperatorRoleBinding json.RawMessage `json:"topicOperatorRoleBinding,omitempty"`
	UserOperatorRoleBinding  json.RawMessage `json:"userOperatorRoleBinding,omitempty"`
}

// PodLabels returns the labels the template gives the pods.
func (t *StrimziTemplate) PodLabels() map[string]string {
	if t == nil || t.Pod == nil || t.Pod.Metadata == nil {
		return nil
	}
	return t.Pod.Metadata.Labels
}

// KafkaNodePool is a Strimzi node pool.
type KafkaNodePool struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Replicas *int32   `json:"replicas"`
		Roles    []string `json:"roles"`
		Storage  *struct {
			StrimziVolume `json:",inline"`
			Volumes       []StrimziVolume `json:"volumes,omitempty"`
		} `json:"storage"`
		Resources  json.RawMessage  `json:"resources,omitempty"`
		JVMOptions json.RawMessage  `json:"jvmOptions,omitempty"`
		Template   *StrimziTemplate `json:"template,omitempty"`
	} `json:"spec"`
}

// StrimziVolume is a node pool's storage, or one volume of its jbod storage.
type StrimziVolume struct {
	ID                    *int32          `json:"id,omitempty"`
	Type                  string          `json:"type"`
	Size                  string          `json:"size,omitempty"`
	Class                 string          `json:"class,omitempty"`
	DeleteClaim           *bool           `json:"deleteClaim,omitempty"`
	KraftMetadata         string          `json:"kraftMetadata,omitempty"`
	Selector              json.RawMessage `json:"selector,omitempty"`
	SizeLimit             string          `json:"sizeLimit,omitempty"`
	VolumeAttributesClass string          `json:"volumeAttributesClass,omitempty"`
}

// KafkaTopic is a Strimzi topic.
type KafkaTopic struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		TopicName  string         `json:"topicName,omitempty"`
		Partitions *int32         `json:"partitions,omitempty"`
		Replicas   *int32         `json:"replicas,omitempty"`
		Config     map[string]any `json:"config,omitempty"`
	} `json:"spec"`
}

// TopicName is the Kafka topic the resource stands for.
func (t *KafkaTopic) TopicName() string { return cmp.Or(t.Spec.TopicName, t.Name) }

// strimziClusterLabel ties node pools and topics to their Kafka.
const strimziClusterLabel = "strimzi.io/cluster"

// Validate checks a Kafka against the CRD's enums and requirements and
// KRaft's: a plain listener must say tls: false explicitly.
func (k *Kafka) Validate() error {
	var errs []string
	kk := k.Spec.Kafka
	if len(kk.Listeners) == 0 {
		errs = append(errs, "spec.kafka.listeners: at least one listener is required")
	}
	names := map[string]bool{}
	for i, l := range kk.Listeners {
		if l.Name == "" || l.Port == 0 || l.Type == "" || l.TLS == nil {
			errs = append(errs, fmt.Sprintf("spec.kafka.listeners[%d]: name, port, type and tls are required", i))
		}
		if names[l.Name] {
			errs = append(errs, fmt.Sprintf("spec.kafka.listeners: %q twice", l.Name))
		}
		names[l.Name] = true
		if !slices.Contains([]string{"internal", "route", "tlsroute", "loadbalancer", "nodeport", "ingress", "cluster-ip"}, l.Type) {
			errs = append(errs, fmt.Sprintf("spec.kafka.listeners[%d].type %q: not a Strimzi listener type", i, l.Type))
		}
		if l.Port < 9092 || l.Port > 65535 {
			errs = append(errs, fmt.Sprintf("spec.kafka.listeners[%d].port %d: Strimzi reserves ports below 9092", i, l.Port))
		}
	}
	return joinf(errs)
}

// Validate checks a node pool against the CRD (required fields, enums).
func (p *KafkaNodePool) Validate() error {
	var errs []string
	sp := p.Spec
	if sp.Replicas == nil || *sp.Replicas < 0 {
		errs = append(errs, "spec.replicas: required, not negative")
	}
	if len(sp.Roles) == 0 {
		errs = append(errs, "spec.roles: required")
	}
	for _, r := range sp.Roles {
		if r != "controller" && r != "broker" {
			errs = append(errs, fmt.Sprintf("spec.roles: %q is neither controller nor broker", r))
		}
	}
	if sp.Storage == nil {
		errs = append(errs, "spec.storage: required")
	} else {
		switch sp.Storage.Type {
		case "ephemeral", "persistent-claim":
		case "jbod":
			if len(sp.Storage.Volumes) == 0 {
				errs = append(errs, "spec.storage.volumes: jbod needs volumes")
			}
			shared := 0
			for i, v := range sp.Storage.Volumes {
				if v.Type != "ephemeral" && v.Type != "persistent-claim" {
					errs = append(errs, fmt.Sprintf("spec.storage.volumes[%d].type %q: want ephemeral or persistent-claim", i, v.Type))
				}
				if v.Type == "persistent-claim" && v.Size == "" {
					errs = append(errs, fmt.Sprintf("spec.storage.volumes[%d].size: a persistent claim needs a size", i))
				}
				if v.KraftMetadata != "" && v.KraftMetadata != "shared" {
					errs = append(errs, fmt.Sprintf("spec.storage.volumes[%d].kraftMetadata %q: want shared", i, v.KraftMetadata))
				}
				if v.KraftMetadata == "shared" {
					shared++
				}
			}
			if shared > 1 {
				errs = append(errs, "spec.storage.volumes: at most one volume holds the KRaft metadata")
			}
		default:
			errs = append(errs, fmt.Sprintf("spec.storage.type %q: want ephemeral, persistent-claim or jbod", sp.Storage.Type))
		}
	}
	return joinf(errs)
}

// Validate checks a topic's numbers.
func (t *KafkaTopic) Validate() error {
	var errs []string
	if p := t.Spec.Partitions; p != nil && *p < 1 {
		errs = append(errs, fmt.Sprintf("spec.partitions %d: want at least 1", *p))
	}
	if r := t.Spec.Replicas; r != nil && *r < 1 {
		errs = append(errs, fmt.Sprintf("spec.replicas %d: want at least 1", *r))
	}
	return joinf(errs)
}

// joinf joins problems into one error, or nil.
func joinf(problems []string) error {
	if len(problems) == 0 {
		return nil
	}
	return errors.New(strings.Join(problems, "; "))
}
