package platform

// Strimzi 1.2.0 (strimzi/strimzi-kafka-operator tag 1.2.0).

// StrimziClusterOperator is the operator that runs Kafka for the namespace.
// Its Deployment is named the same by the plain YAML install and the Helm
// chart, but labelled differently (app: strimzi, or the chart's labels);
// name=strimzi-cluster-operator is only on its pods.
var StrimziClusterOperator = Workload{
	Fact: Fact{"the Strimzi cluster operator: Deployment strimzi-cluster-operator, labelled app=strimzi (YAML install) or with the chart's labels (Helm); name=strimzi-cluster-operator is a pod label only",
		"strimzi/strimzi-kafka-operator 1.2.0, packaging/install/cluster-operator/060-Deployment-strimzi-cluster-operator.yaml and packaging/helm-charts/helm3/strimzi-kafka-operator/templates/060-Deployment-strimzi-cluster-operator.yaml"},
	Kind: "Deployment", Namespace: "", Name: "strimzi-cluster-operator", // in whatever namespace it was installed
	Labels:         map[string]string{"app": "strimzi"},
	PodLabels:      map[string]string{"name": "strimzi-cluster-operator", "strimzi.io/kind": "cluster-operator"},
	ServiceAccount: "strimzi-cluster-operator",
}

// KafkaTopicFinalizer is released by the topic operator, which runs in the
// Kafka cluster's entity operator pod: in the same namespace as the topics.
// Deleting the namespace first stops the operator, and the topics (and the
// namespace) stay Terminating.
var KafkaTopicFinalizer = Finalizer{
	Fact: Fact{"KafkaTopics carry the finalizer strimzi.io/topic-operator (STRIMZI_USE_FINALIZERS defaults to true), released by the topic operator in the Kafka's own namespace",
		"strimzi/strimzi-kafka-operator 1.2.0, topic-operator/src/main/java/io/strimzi/operator/topic/KubernetesHandler.java and TopicOperatorConfig.java"},
	Resource: "kafkatopic", Name: "strimzi.io/topic-operator",
	Needs: "the topic operator (the Kafka's entity operator, in the same namespace) and Kafka",
}
