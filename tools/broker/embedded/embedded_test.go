package embedded_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/mskafka/knative-functions/shared/events"
	"github.com/mskafka/knative-functions/shared/testenv"
	"github.com/mskafka/knative-functions/tools/broker/embedded"
)

func TestDataDirTakenOnce(t *testing.T) {
	dir := t.TempDir()
	b, err := embedded.Start(context.Background(), embedded.Config{Addr: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	_, err = embedded.Start(context.Background(), embedded.Config{Addr: "127.0.0.1:0", DataDir: dir})
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second Start on one data directory: error = %v, want it refused", err)
	}
	b.Close()
	b, err = embedded.Start(context.Background(), embedded.Config{Addr: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		t.Fatalf("Start after Close: %v", err)
	}
	b.Close()
}

func TestStartConfig(t *testing.T) {
	tests := []struct {
		name    string
		addr    string
		wantErr string
	}{
		{name: "wildcard", addr: "0.0.0.0:0", wantErr: "want a host clients can dial"},
		{name: "no host", addr: ":0", wantErr: "want a host clients can dial"},
		{name: "no port", addr: "127.0.0.1", wantErr: "missing port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := embedded.Start(context.Background(), embedded.Config{Addr: tt.addr})
			if err == nil {
				b.Close()
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Start(%q) error = %v, want one containing %q", tt.addr, err, tt.wantErr)
			}
		})
	}

	t.Run("port taken", func(t *testing.T) {
		b, err := embedded.Start(context.Background(), embedded.Config{Addr: "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		if _, err := embedded.Start(context.Background(), embedded.Config{Addr: b.Addr()}); err == nil {
			t.Error("Start on a taken port succeeded")
		}
	})
}

func TestInMemoryIdempotentProducer(t *testing.T) {
	b, err := embedded.Start(context.Background(), embedded.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	brokers := []string{b.Addr()}
	p := testenv.Producer(t, brokers)
	testenv.Produce(t, p, &sarama.ProducerMessage{Topic: events.Topic, Key: sarama.StringEncoder("k"), Value: sarama.StringEncoder("v")})
	if got := testenv.Read(t, brokers, events.Topic, 1, 10*time.Second); string(got[0].Value) != "v" {
		t.Errorf("read %q, want %q", got[0].Value, "v")
	}
	// No topic is created by accident.
	_, _, err = p.SendMessage(&sarama.ProducerMessage{Topic: "missing", Value: sarama.StringEncoder("v")})
	if !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		t.Errorf("produce to a missing topic: error = %v, want %v", err, sarama.ErrUnknownTopicOrPartition)
	}
}
