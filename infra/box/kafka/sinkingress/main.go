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
	srv := &http.Server{Addr: os.Args[1], Handler: http.HandlerFunc(h), ReadHeaderTimeout: 10 * time.Second}
	return srv.ListenAndServe()
}
