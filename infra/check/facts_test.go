package check

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/mskafka/knative-functions/infra/check/platform"
)

// TestReintroduced puts back, one at a time, the cluster defects the
// platform facts catch, as an edit of the file as it is now (so a fixture
// cannot go stale: the edit must still apply), and wants the check to name
// the fact and the source it was read from.
func TestReintroduced(t *testing.T) {
	tests := []struct {
		name, file, old, new string
		want                 []string
	}{
		{
			name: "strimzi-label-lookup", file: "/infra/cluster/prerequisites.sh",
			old: "kubectl get deployment -A --field-selector metadata.name=strimzi-cluster-operator -o name",
			new: "kubectl get deployment -A -l name=strimzi-cluster-operator -o name",
			want: []string{
				"infra/cluster/prerequisites.sh:",
				"-l name=strimzi-cluster-operator selects no platform Deployment by its own labels: those are the labels of its pods",
				"[strimzi/strimzi-kafka-operator 1.2.0, packaging/install/cluster-operator/060-Deployment-strimzi-cluster-operator.yaml",
			},
		},
		{
			name: "public-function", file: "/functions/shipping/func.yaml",
			old: "      value: cluster-local\n", new: "      value: external\n",
			want: []string{
				"functions/shipping/func.yaml: deploy.labels: no networking.knative.dev/visibility=cluster-local: the function is public",
				"pkg/reconciler/route/config/domain.go (DefaultDomain)]",
			},
		},
		{
			name: "two-ps-on-one-cpu", file: "/functions/shipping/func.yaml",
			old: "    - name: GOMAXPROCS\n      value: \"1\"\n", new: "",
			want: []string{
				"functions/shipping/func.yaml: run.envs: no GOMAXPROCS, so the CPU limit 1 gets 2 Ps",
				"[go1.26.8, src/runtime/cgroup_linux.go (defaultGOMAXPROCS, adjustCgroupGOMAXPROCS)]",
			},
		},
		{
			name: "missing-scrape-annotation", file: "/infra/functions/revision-template.yaml",
			old: `        prometheus.io/scrape: "true"` + "\n", new: "",
			want: []string{
				`infra/functions/revision-template.yaml applied to order: template annotation prometheus.io/scrape is "", want "true"`,
				"[istio/istio 1.31.0-rc.0, pkg/kube/inject/webhook.go (applyPrometheusMerge)]",
			},
		},
		{
			name: "app-before-proxy", file: "/infra/functions/revision-template.yaml",
			old: "proxy.istio.io/config:", new: "proxy.istio.io/unknown:",
			want: []string{"template annotation proxy.istio.io/config does not hold the app until the proxy starts", "(reorderPod"},
		},
		{
			name: "undeploy-namespace-first", file: "/infra/cluster/undeploy.sh",
			old: "if kubectl get namespace \"$NAMESPACE\" >/dev/null 2>&1; then\n",
			new: "kubectl delete namespace \"$NAMESPACE\" --ignore-not-found --wait=true --timeout=\"$TIMEOUT\"\nif kubectl get namespace \"$NAMESPACE\" >/dev/null 2>&1; then\n",
			want: []string{
				"the namespace is deleted before the kafkasource objects: their finalizer kafkasources.sources.knative.dev",
				"the namespace is deleted before the kafkasink objects: their finalizer kafkasinks.eventing.knative.dev",
				"the namespace is deleted before the kafkatopic objects: their finalizer strimzi.io/topic-operator",
				"topic-operator/src/main/java/io/strimzi/operator/topic/KubernetesHandler.java",
			},
		},
		{
			name: "undeploy-unbounded-wait", file: "/infra/cluster/undeploy.sh",
			old:  `delete ksvc "$fn" --ignore-not-found --wait=true --timeout="$TIMEOUT"`,
			new:  `delete ksvc "$fn" --ignore-not-found --wait=true`,
			want: []string{"kubectl waits without --timeout"},
		},
		{
			name: "ping-refused", file: "/infra/mesh/authorizationpolicy.yaml",
			old: "              - cluster.local/ns/knative-eventing/sa/pingsource-mt-adapter\n", new: "              - cluster.local/ns/knative-serving/sa/activator\n",
			want: []string{
				"PingSource ms-kafka/order-outbox-drain: the AuthorizationPolicies of order do not let cluster.local/ns/knative-eventing/sa/pingsource-mt-adapter POST /",
				"config/core/deployments/pingsource-mt-adapter.yaml]",
			},
		},
		{
			name: "activator-metrics", file: "/infra/mesh/authorizationpolicy.yaml",
			old:  "            notPaths: [/metrics]\n    - from:\n        - source:\n            principals:\n              - cluster.local/ns/knative-eventing/sa/pingsource-mt-adapter",
			new:  "            paths: [\"*\"]\n    - from:\n        - source:\n            principals:\n              - cluster.local/ns/knative-eventing/sa/pingsource-mt-adapter",
			want: []string{"AuthorizationPolicy for order: the activator may GET /metrics", "target-burst-capacity defaults to 211"},
		},
		{
			name: "no-gateway-tracing", file: "/infra/mesh/telemetry.yaml",
			old: "      istio: ingressgateway\n", new: "      istio: egressgateway\n",
			want: []string{"Deployment istio-system/istio-ingressgateway: no Telemetry selects its pods", "pkg/config/mesh/mesh.go"},
		},
		{
			name: "dispatcher-not-scraped", file: "/infra/platform/dispatcher-metrics.yaml",
			old: `    prometheus.io/scrape: "true"` + "\n", new: "",
			want: []string{"StatefulSet knative-eventing/kafka-source-dispatcher: no Service annotated prometheus.io/scrape selects it", "samples/addons/prometheus.yaml"},
		},
		{
			name: "dashboard-series", file: dashboardFile,
			old: "kn_eventing_kafka_discarded_events_1_total", new: "kn_eventing_kafka_discarded_events_total",
			want: []string{"kn_eventing_kafka_discarded_events_total is no series or label the KafkaSource dispatcher exports", "Metrics.java"},
		},
		{
			name: "duplicate-webhook-policy", file: "/infra/mesh/peerauthentication.yaml",
			old:  "---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: webhook-from-apiserver\n  namespace: knative-eventing\n",
			new:  "---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: webhook-from-apiserver\n  namespace: knative-serving\nspec:\n  selector:\n    matchLabels:\n      app: webhook\n  mtls:\n    mode: PERMISSIVE\n---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: webhook-from-apiserver\n  namespace: knative-eventing\n",
			want: []string{"PeerAuthentication knative-serving/webhook-from-apiserver: duplicates knative-serving/webhook", "config/400-webhook-peer-authentication.yaml"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := input(t, "")
			data, err := in.FS.ReadFile(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(data), tt.old) {
				t.Fatalf("%s no longer contains the text this case edits:\n%s", tt.file, tt.old)
			}
			if err := in.FS.WriteFile(tt.file, []byte(strings.Replace(string(data), tt.old, tt.new, 1))); err != nil {
				t.Fatal(err)
			}
			_, err = Check(context.Background(), in)
			if err == nil {
				t.Fatal("Check passed the reintroduced defect")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("the error does not say\n  %s\nit says:\n%v", w, err)
				}
			}
		})
	}
}

// TestGoMaxProcsFact reads the fact from the Go runtime this repository is
// built with, when its source is at hand: the rounding up to Min.
func TestGoMaxProcsFact(t *testing.T) {
	if v := runtime.Version(); !strings.HasPrefix(platform.GoMaxProcs.Source, v+",") {
		t.Skipf("the fact was read from another Go than this %s: %s", v, platform.GoMaxProcs.Source)
	}
	src, err := os.ReadFile(filepath.Join(runtime.GOROOT(), "src", "runtime", "cgroup_linux.go"))
	if err != nil {
		t.Skipf("no Go source here: %v", err)
	}
	want := fmt.Sprintf("limit = max(limit, %d)", platform.GoMaxProcs.Min)
	if !strings.Contains(string(src), want) {
		t.Errorf("src/runtime/cgroup_linux.go of %s no longer has %q: read the fact again", runtime.Version(), want)
	}
}
