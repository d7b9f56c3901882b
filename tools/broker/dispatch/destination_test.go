package dispatch

import (
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mskafka/knative-functions/tools/broker/manifest"
)

func TestResolve(t *testing.T) {
	services := map[string]string{"shipping": "http://127.0.0.1:8082/", "broken": "localhost/x"}
	dl := manifest.KafkaSink{Name: "order-dead-letter", Topic: "order-dead-letter"}
	sinks := map[string]manifest.KafkaSink{"order-dead-letter": dl}
	service := func(name string) *manifest.Ref {
		return &manifest.Ref{APIVersion: manifest.ServiceAPIVersion, Kind: manifest.ServiceKind, Name: name}
	}
	tests := []struct {
		name    string
		dest    manifest.Destination
		want    string // the destination's name
		wantErr string
	}{
		{name: "service", dest: manifest.Destination{Ref: service("shipping")}, want: "http://127.0.0.1:8082/"},
		{name: "service with path", dest: manifest.Destination{Ref: service("shipping"), URI: "events"}, want: "http://127.0.0.1:8082/events"},
		{name: "uri", dest: manifest.Destination{URI: "http://127.0.0.1:9000/x"}, want: "http://127.0.0.1:9000/x"},
		{name: "kafka sink", dest: manifest.Destination{Ref: &manifest.Ref{APIVersion: manifest.SinkAPIVersion, Kind: manifest.SinkKind, Name: "order-dead-letter"}}, want: "kafka:order-dead-letter"},
		{name: "unknown service", dest: manifest.Destination{Ref: service("billing")}, wantErr: `no local URL for service "billing"`},
		{name: "service without scheme", dest: manifest.Destination{Ref: service("broken")}, wantErr: "want an absolute http(s) URL"},
		{name: "unknown kafka sink", dest: manifest.Destination{Ref: &manifest.Ref{APIVersion: manifest.SinkAPIVersion, Kind: manifest.SinkKind, Name: "nope"}}, wantErr: `no KafkaSink "nope"`},
		{name: "unsupported kind", dest: manifest.Destination{Ref: &manifest.Ref{APIVersion: "eventing.knative.dev/v1", Kind: "Broker", Name: "default"}}, wantErr: "unsupported kind"},
		{name: "relative uri alone", dest: manifest.Destination{URI: "/events"}, wantErr: "want an absolute http(s) URL"},
		{name: "absolute uri beside a ref", dest: manifest.Destination{Ref: service("shipping"), URI: "http://elsewhere/"}, wantErr: "must be a relative URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := new(Dispatcher).resolve(tt.dest, services, sinks)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("resolve() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got.String()); diff != "" {
				t.Errorf("resolve() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewRejectsUnknownSink(t *testing.T) {
	src := manifest.KafkaSource{
		Name: "s", Namespace: "ns", Topics: []string{"order"}, ConsumerGroup: "g",
		Delivery: manifest.DefaultDelivery(),
		Sink:     manifest.Destination{Ref: &manifest.Ref{APIVersion: manifest.ServiceAPIVersion, Kind: manifest.ServiceKind, Name: "shipping"}},
	}
	_, err := New(Config{Brokers: []string{"127.0.0.1:1"}, Sources: []manifest.KafkaSource{src}})
	if err == nil || !strings.Contains(err.Error(), `source s: sink: resolve Service shipping`) {
		t.Errorf("New() error = %v, want an unresolved sink", err)
	}
}

func TestHTTPSink(t *testing.T) {
	var gotHeader http.Header
	var gotBody string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotHeader = r.Header
		b, _ := io.ReadAll(r.Body)
		gotBody = string(b)
		if r.Header.Get("Ce-Subject") == "partition:2#9" {
			w.Header().Set("Kne-Hint", "bad customer")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, strings.Repeat("x", 3000))
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()

	ev, err := toEvent(plainRecord(), "order-to-shipping", "ms-kafka")
	if err != nil {
		t.Fatal(err)
	}
	out := httpSink{url: srv.URL, client: srv.Client()}.send(context.Background(), ev, nil)
	if out.status != http.StatusBadRequest || out.err != nil {
		t.Fatalf("send() = %+v, want status 400", out)
	}
	if gotBody != `{"id":1}` || gotHeader.Get("Ce-Id") != "partition:2/offset:9" || gotHeader.Get("Ce-Key") != "1" {
		t.Errorf("sink got headers %v body %q, want a binary-mode event", gotHeader, gotBody)
	}
	if len(out.body) != errorDataMax {
		t.Errorf("kept %d bytes of the response body, want %d", len(out.body), errorDataMax)
	}

	ext := errorExtensions(srv.URL, out)
	want := map[string]string{
		"knativeerrordest": srv.URL,
		"knativeerrorcode": "400",
		"knativeerrordata": base64.StdEncoding.EncodeToString([]byte(strings.Repeat("x", errorDataMax))),
		"hint":             "bad customer",
	}
	if diff := cmp.Diff(want, ext); diff != "" {
		t.Errorf("errorExtensions() mismatch (-want +got):\n%s", diff)
	}

	ev.SetSubject("partition:2#10")
	if out := (httpSink{url: srv.URL, client: srv.Client()}).send(context.Background(), ev, nil); !out.ok() || out.body != nil {
		t.Errorf("send() = %+v, want a success without a body", out)
	}

	srv.Close()
	if out := (httpSink{url: srv.URL, client: srv.Client()}).send(context.Background(), ev, nil); out.err == nil || !retryable(out) {
		t.Errorf("send() to a closed server = %+v, want a retryable error", out)
	}
}
