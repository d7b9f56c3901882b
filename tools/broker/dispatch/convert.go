package dispatch

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"strconv"
	"strings"

	"github.com/IBM/sarama"
	"github.com/cloudevents/sdk-go/protocol/kafka_sarama/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"

	"github.com/mskafka/knative-functions/shared/events"
)

// errNotEvent marks a record that claims to be a CloudEvent but is not a
// valid one; like Knative, the dispatcher discards it.
var errNotEvent = errors.New("invalid CloudEvent")

// toEvent turns a record into the event a KafkaSource named name in
// namespace ns delivers for it: a CloudEvent record (binary ce_* headers, or
// structured application/cloudevents+json) as it is, any other record wrapped
// the way Knative wraps it.
func toEvent(msg *sarama.ConsumerMessage, name, ns string) (*event.Event, error) {
	var contentType string
	binary := false
	for _, h := range msg.Headers {
		if h == nil {
			continue
		}
		switch k := string(h.Key); {
		case strings.EqualFold(k, "content-type"):
			contentType = string(h.Value)
		case strings.EqualFold(k, "ce_specversion"):
			binary = true
		}
	}
	if mt, _, _ := mime.ParseMediaType(contentType); mt == event.ApplicationCloudEventsJSON {
		return structured(msg)
	}
	if binary {
		return binaryEvent(msg, contentType)
	}
	return wrap(msg, name, ns, contentType)
}

func structured(msg *sarama.ConsumerMessage) (*event.Event, error) {
	ev := event.New()
	return valid(&ev, "structured", ev.UnmarshalJSON(msg.Value))
}

func binaryEvent(msg *sarama.ConsumerMessage, contentType string) (*event.Event, error) {
	// kafka_sarama.NewMessageFromConsumerMessage would add kafkatopic,
	// kafkapartition and kafkaoffset extensions; Knative passes the event on
	// unchanged, so the headers are copied here instead.
	headers := make(map[string][]byte, len(msg.Headers))
	for _, h := range msg.Headers {
		if h != nil {
			headers[strings.ToLower(string(h.Key))] = h.Value
		}
	}
	ev, err := binding.ToEvent(context.Background(), kafka_sarama.NewMessage(msg.Value, contentType, headers))
	return valid(ev, "binary", err)
}

// valid returns ev if it was read (err nil) and is a valid CloudEvent.
func valid(ev *event.Event, mode string, err error) (*event.Event, error) {
	if err == nil {
		err = ev.Validate()
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", errNotEvent, mode, err)
	}
	return ev, nil
}

func wrap(msg *sarama.ConsumerMessage, name, ns, contentType string) (*event.Event, error) {
	p := strconv.FormatInt(int64(msg.Partition), 10)
	o := strconv.FormatInt(msg.Offset, 10)
	ev := event.New()
	ev.SetType(events.TypeKafkaRecord)
	ev.SetSource("/apis/v1/namespaces/" + ns + "/kafkasources/" + name + "#" + msg.Topic)
	ev.SetID("partition:" + p + "/offset:" + o)
	ev.SetSubject("partition:" + p + "#" + o)
	if !msg.Timestamp.IsZero() {
		ev.SetTime(msg.Timestamp)
	}
	if msg.Key != nil {
		// Knative reads keys as UTF-8 strings; invalid bytes become U+FFFD
		// there too, and a CloudEvent attribute must be valid UTF-8.
		ev.SetExtension("key", strings.ToValidUTF8(string(msg.Key), "\uFFFD"))
	}
	// A content type that is no media type would fail the event's
	// validation and drop the record; its data is delivered without one.
	if _, _, err := mime.ParseMediaType(contentType); err == nil {
		ev.SetDataContentType(contentType)
	}
	if len(msg.Value) > 0 {
		ev.DataEncoded = msg.Value
	}
	if err := ev.Validate(); err != nil {
		return nil, fmt.Errorf("wrap record: %w", err)
	}
	return &ev, nil
}
