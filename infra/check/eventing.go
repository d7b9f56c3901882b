package check

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	gocmp "github.com/google/go-cmp/cmp"
	"k8s.io/utils/ptr"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"
	duckv1 "knative.dev/pkg/apis/duck/v1"

	"github.com/mskafka/knative-functions/infra/check/platform"
	"github.com/mskafka/knative-functions/tools/broker/manifest"
)

// eventing checks the KafkaSources, PingSources and KafkaSinks against the
// functions, the Kafka cluster, its topics, and the local dispatcher.
func (c *checker) eventing() {
	// The topic and brokers order publishes to, where func.yaml resolves them
	// (a missing reference is reported with the function).
	order := c.funcs["order"]
	orderTopic, haveOrder := c.env(order, "KAFKA_TOPIC")
	if brokers, ok := c.env(order, "KAFKA_BROKERS"); ok {
		c.bootstrap("functions/order/func.yaml: KAFKA_BROKERS", strings.Split(brokers, ","))
	}
	if haveOrder && c.topic("ms-kafka", orderTopic) == nil {
		c.addf("functions/order/func.yaml: KAFKA_TOPIC %q: no KafkaTopic of that name", orderTopic)
	}
	groups := map[string]string{}
	for _, s := range All[KafkaSource](c.objs) {
		c.source(s, groups, orderTopic, haveOrder)
	}
	for _, p := range All[sourcesv1.PingSource](c.objs) {
		c.sinkFunction("PingSource "+p.Namespace+"/"+p.Name, p.Namespace, p.Spec.Sink.Ref, platform.PingSourceAdapter)
	}
	c.kafkaSinks()
	if t := c.topic("ms-kafka", cmp.Or(orderTopic, "order")); t != nil && ptr.Deref(t.Spec.Partitions, 0) != OrderTopicPartitions {
		c.addf("KafkaTopic %s: %d partitions, the design says %d", t.Name, ptr.Deref(t.Spec.Partitions, 0), OrderTopicPartitions)
	}
	c.strimzi()
	c.dispatcher()
}

// source checks one KafkaSource: its own consumer group (groups holds
// those seen so far), brokers and secrets in the tree, the topic order
// publishes to, a function as its sink and a dead letter sink.
func (c *checker) source(s *KafkaSource, groups map[string]string, orderTopic string, haveOrder bool) {
	id := "KafkaSource " + s.Namespace + "/" + s.Name
	if other, dup := groups[s.Spec.ConsumerGroup]; dup {
		c.addf("%s: consumer group %q is also %s's: the two would split the records between them", id, s.Spec.ConsumerGroup, other)
	}
	groups[s.Spec.ConsumerGroup] = s.Name
	if s.Spec.ConsumerGroup == "" {
		c.addf("%s: spec.consumerGroup: name it; Knative would make up one per source, and the local dispatcher needs it stable", id)
	}
	c.bootstrap(id+": spec.bootstrapServers", s.Spec.BootstrapServers)
	if n := s.Spec.Net; n != nil {
		for field, ref := range map[string]SecretKeyRef{
			"sasl.user": n.SASL.User, "sasl.password": n.SASL.Password, "sasl.type": n.SASL.Type,
			"tls.cert": n.TLS.Cert, "tls.key": n.TLS.Key, "tls.caCert": n.TLS.CACert,
		} {
			if r := ref.SecretKeyRef; r != nil {
				if _, err := c.lookup(s.Namespace, "Secret", r.Name, r.Key); err != nil {
					c.addf("%s: spec.net.%s: %w", id, field, err)
				}
			}
		}
	}
	for _, t := range s.Spec.Topics {
		if c.topic(s.Namespace, t) == nil {
			c.addf("%s: spec.topics: no KafkaTopic %q", id, t)
		}
		if haveOrder && t != orderTopic {
			c.addf("%s: spec.topics: %q is not the topic order publishes to (%q)", id, t, orderTopic)
		}
	}
	c.sinkFunction(id, s.Namespace, s.Spec.Sink.Ref, platform.KafkaSourceDispatcher)
	if d := s.Spec.Delivery; d == nil || d.DeadLetterSink == nil {
		c.addf("%s: spec.delivery.deadLetterSink: not set; failed events would be dropped", id)
	} else if ref := d.DeadLetterSink.Ref; ref == nil {
		c.addf("%s: spec.delivery.deadLetterSink: want a ref to a KafkaSink", id)
	} else if ref.Kind != "KafkaSink" || ref.APIVersion != "eventing.knative.dev/v1alpha1" ||
		Find[KafkaSink](c.objs, cmp.Or(ref.Namespace, s.Namespace), ref.Name) == nil {
		c.addf("%s: spec.delivery.deadLetterSink: %s %s %q not found", id, ref.APIVersion, ref.Kind, ref.Name)
	}
}

// sinkFunction checks that the source id, in namespace ns, delivers to a
// function of the tree, in its namespace, whose AuthorizationPolicies let
// the platform's deliverer by POST the events. The local stack reads the
// same manifests (manifest.Load), compared in dispatcher.
func (c *checker) sinkFunction(id, ns string, ref *duckv1.KReference, by platform.Workload) {
	switch {
	case ref == nil:
		c.addf("%s: spec.sink: want a ref to a function, not a URI", id)
	case ref.APIVersion != "serving.knative.dev/v1" || ref.Kind != "Service":
		c.addf("%s: spec.sink: %s %s: want a Knative Service (serving.knative.dev/v1)", id, ref.APIVersion, ref.Kind)
	case !slices.Contains(c.declared, ref.Name):
		c.addf("%s: spec.sink names Service %q, which no functions/*/func.yaml deploys", id, ref.Name)
	default:
		if f, ok := c.funcs[ref.Name]; ok {
			if ns, deployed := cmp.Or(ref.Namespace, ns), cmp.Or(f.Namespace, f.Deploy.Namespace); ns != deployed {
				c.addf("%s: spec.sink: function %s is deployed to %q, not %q", id, ref.Name, deployed, ns)
			}
		}
	}
	if ref != nil && !c.allows(ns, ref.Name, by.Principal(), "POST", "/") {
		c.addf("%s: the AuthorizationPolicies of %s do not let %s POST / (its events would get 403); %s",
			id, ref.Name, by.Principal(), by.Fact)
	}
}

// kafkaSinks: brokers in the tree, and the topic the sink declares as the
// KafkaTopic declares it, which the sink writes to without owning it, or
// deleting the sink deletes the topic and its records.
func (c *checker) kafkaSinks() {
	for _, k := range All[KafkaSink](c.objs) {
		id := "KafkaSink " + k.Namespace + "/" + k.Name
		c.bootstrap(id+": spec.bootstrapServers", k.Spec.BootstrapServers)
		switch {
		case c.topic(k.Namespace, k.Spec.Topic) == nil:
			c.addf("%s: spec.topic: no KafkaTopic %q", id, k.Spec.Topic)
		case k.Spec.NumPartitions != nil || k.Spec.ReplicationFactor != nil:
			c.addf("%s: numPartitions/replicationFactor make the sink own topic %q, which KafkaTopic %s declares: deleting or re-creating the sink deletes the topic and its records; %s",
				id, k.Spec.Topic, k.Spec.Topic, platform.KafkaSinkTopicOwner)
		}
	}
}

// bootstrap checks that servers are the plain listener of a Kafka in the tree.
func (c *checker) bootstrap(what string, servers []string) {
	var want []string
	for _, k := range All[Kafka](c.objs) {
		for _, l := range k.Spec.Kafka.Listeners {
			if l.Type == "internal" && l.TLS != nil && !*l.TLS {
				for _, host := range []string{".svc", ".svc.cluster.local"} {
					want = append(want, fmt.Sprintf("%s-kafka-bootstrap.%s%s:%d", k.Name, k.Namespace, host, l.Port))
				}
			}
		}
	}
	if len(servers) == 0 {
		c.addf("%s: no bootstrap servers", what)
	}
	for _, s := range servers {
		if !slices.Contains(want, strings.TrimSpace(s)) {
			c.addf("%s: %q is not the bootstrap address of a plain listener of a Kafka in the tree (%s)", what, s, strings.Join(want, ", "))
		}
	}
}

// topic returns the KafkaTopic for a Kafka topic name, or nil.
func (c *checker) topic(ns, name string) *KafkaTopic {
	for _, t := range All[KafkaTopic](c.objs) {
		if t.Namespace == ns && t.TopicName() == name {
			return t
		}
	}
	return nil
}

// strimzi checks that node pools and topics belong to a Kafka, and that the
// topics fit the brokers.
func (c *checker) strimzi() {
	brokers := map[string]int32{}
	controllers := map[string]bool{}
	for _, p := range All[KafkaNodePool](c.objs) {
		cluster := p.Labels[strimziClusterLabel]
		if Find[Kafka](c.objs, p.Namespace, cluster) == nil {
			c.addf("KafkaNodePool %s/%s: label %s=%q names no Kafka", p.Namespace, p.Name, strimziClusterLabel, cluster)
			continue
		}
		if slices.Contains(p.Spec.Roles, "broker") {
			brokers[cluster] += ptr.Deref(p.Spec.Replicas, 0)
		}
		if slices.Contains(p.Spec.Roles, "controller") {
			controllers[cluster] = true
		}
		if p.Spec.Template.PodLabels()["sidecar.istio.io/inject"] != "false" {
			c.addf("KafkaNodePool %s/%s: the Kafka pods must stay out of the mesh (template.pod.metadata.labels sidecar.istio.io/inject: \"false\")", p.Namespace, p.Name)
		}
	}
	for _, k := range All[Kafka](c.objs) {
		if brokers[k.Name] == 0 || !controllers[k.Name] {
			c.addf("Kafka %s/%s: KRaft needs node pools with broker and controller roles", k.Namespace, k.Name)
		}
		for _, key := range []string{"offsets.topic.replication.factor", "transaction.state.log.replication.factor", "default.replication.factor"} {
			if v, ok := k.Spec.Kafka.Config[key]; ok {
				if n, _ := strconv.Atoi(fmt.Sprint(v)); int32(n) > brokers[k.Name] {
					c.addf("Kafka %s/%s: %s %v exceeds the %d broker(s)", k.Namespace, k.Name, key, v, brokers[k.Name])
				}
			}
		}
		if eo := k.Spec.EntityOperator; eo == nil || eo.TopicOperator == nil {
			c.addf("Kafka %s/%s: spec.entityOperator.topicOperator: needed, or the KafkaTopics do nothing", k.Namespace, k.Name)
		} else if eo.Template.PodLabels()["sidecar.istio.io/inject"] != "false" {
			c.addf("Kafka %s/%s: the entity operator must stay out of the mesh (template.pod.metadata.labels sidecar.istio.io/inject: \"false\")", k.Namespace, k.Name)
		}
	}
	for _, t := range All[KafkaTopic](c.objs) {
		cluster := t.Labels[strimziClusterLabel]
		if Find[Kafka](c.objs, t.Namespace, cluster) == nil {
			c.addf("KafkaTopic %s/%s: label %s=%q names no Kafka", t.Namespace, t.Name, strimziClusterLabel, cluster)
			continue
		}
		if r := ptr.Deref(t.Spec.Replicas, 0); r > brokers[cluster] {
			c.addf("KafkaTopic %s/%s: %d replicas exceed the %d broker(s)", t.Namespace, t.Name, r, brokers[cluster])
		}
	}
}

// dispatcher compares the local dispatcher's reading of infra/eventing with
// its reading of the rendered KafkaSources and KafkaSinks: a difference means
// the cluster and `make run` would deliver differently.
func (c *checker) dispatcher() {
	dir, err := os.MkdirTemp("", "ms-kafka-rendered-")
	if err != nil {
		c.add(err)
		return
	}
	defer os.RemoveAll(dir)
	var docs []string
	for _, o := range c.objs {
		if o.Kind == manifest.SourceKind || o.Kind == manifest.SinkKind || o.Kind == manifest.PingKind {
			docs = append(docs, string(o.YAML))
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "rendered.yaml"), []byte(strings.Join(docs, "---\n")), 0o600); err != nil {
		c.add(err)
		return
	}
	got, err := manifest.Load(dir)
	if err != nil {
		c.addf("the local dispatcher cannot read the rendered KafkaSources: %w", err)
		return
	}
	if diff := gocmp.Diff(c.in.Dispatcher, got); diff != "" {
		c.addf("the rendered KafkaSources/KafkaSinks do not match the local dispatcher's view of infra/eventing (-dispatcher +rendered):\n%s", diff)
	}
}
