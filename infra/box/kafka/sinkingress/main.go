// Command sinkingress stands in for the KafkaSink data plane's ingress
// (kafka-sink-ingress.knative-eventing.svc:8080) in the box, where its pods
// never run. eventing-kafka-broker's controller probes that ingress before it
// calls a KafkaSink ready (expecting 200) and before it releases the sink's
// finalizer (expecting anything else). Like the real receiver, this answers
// 200 for the ingress paths that the contract ConfigMap the controller writes
// (knative-eventing/kafka-sink-sinks, binaryData "data", JSON) lists, and 404 for any other; it
// never touches Kafka. It also answers the Knative health paths, because it
// holds the port every Knative process otherwise binds for them.
//
// The controller also counts the receiver as running only when one of its
// pods (knative-eventing, app=kafka-sink-receiver) is Ready. This process is
// that receiver, so it reports those pods, which no kubelet runs here,
// Running and Ready — and nothing else.
//
// Usage: KUBECONFIG=… sinkingress ADDR
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// contract is the part of the data-plane contract the ingress routes by.
type contract struct {
	Resources []struct {
		Ingress struct {
			Path string `json:"path"`
		} `json:"ingress"`
	} `json:"resources"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "sinkingress:", err)
		os.Exit(1)
	}
}

func run() error {
	if len(os.Args) != 2 {
		return fmt.Errorf("usage: sinkingress ADDR")
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", os.Getenv("KUBECONFIG"))
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	h := func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" || r.URL.Path == "/readiness" {
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		cm, err := client.CoreV1().ConfigMaps("knative-eventing").Get(ctx, "kafka-sink-sinks", metav1.GetOptions{})
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		var c contract
		if data := cm.BinaryData["data"]; len(data) > 0 {
			if err := json.Unmarshal(data, &c); err != nil {
				http.Error(w, "contract: "+err.Error(), http.StatusInternalServerError)
				return
			}
		}
		for _, res := range c.Resources {
			if res.Ingress.Path == r.URL.Path {
				log.Printf("%s %s: 200 (in the contract)", r.Method, r.URL.Path)
				return
			}
		}
		log.Printf("%s %s: 404 (not in the contract)", r.Method, r.URL.Path)
		http.NotFound(w, r)
	}
	go markReceiverReady(client)
	srv := &http.Server{Addr: os.Args[1], Handler: http.HandlerFunc(h), ReadHeaderTimeout: 10 * time.Second}
	return srv.ListenAndServe()
}

// markReceiverReady sets the status of every kafka-sink-receiver pod to
// Running and Ready, every two seconds, as a kubelet would once its container
// answered its readiness probe.
func markReceiverReady(client kubernetes.Interface) {
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		pods, err := client.CoreV1().Pods("knative-eventing").List(ctx, metav1.ListOptions{LabelSelector: "app=kafka-sink-receiver"})
		if err != nil {
			log.Printf("list receiver pods: %v", err)
			pods = &corev1.PodList{}
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			if p.Status.Phase == corev1.PodRunning {
				continue
			}
			now := metav1.Now()
			p.Status.Phase = corev1.PodRunning
			p.Status.StartTime = &now
			p.Status.Conditions = []corev1.PodCondition{
				{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
				{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
			}
			if _, err := client.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
				log.Printf("receiver pod %s: %v", p.Name, err)
			} else {
				log.Printf("receiver pod %s: reported Running and Ready (played by this stand-in)", p.Name)
			}
		}
		cancel()
		time.Sleep(2 * time.Second)
	}
}
