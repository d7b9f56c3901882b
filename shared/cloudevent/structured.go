package cloudevent

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/cloudevents/sdk-go/v2/event"
)

// readStructured decodes a structured-mode event (the CloudEvents JSON
// format). The SDK decodes the attributes; the data is read here, because
// the SDK takes only application/json and text/json, in lower case, as
// JSON, and refuses the JSON value of any other type the spec counts as
// JSON (Application/JSON, application/vnd.example+json).
func readStructured(r *http.Request) (*event.Event, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, fmt.Errorf("%w: read body: %w", ErrMalformed, err)
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil || members == nil {
		return nil, fmt.Errorf("%w: structured mode: the body must be a JSON object holding one event", ErrMalformed)
	}
	version, err := stringMember(members, "specversion")
	switch {
	case err != nil:
		return nil, err
	case version == "":
		return nil, fmt.Errorf("%w: structured mode: the required attribute specversion is missing", ErrMalformed)
	}
	if err := checkVersion(version); err != nil {
		return nil, err
	}
	if version != event.CloudEventsVersionV1 {
		// 0.3 carries base64 data differently (datacontentencoding); the
		// SDK reads it as a whole.
		ev := event.New()
		if err := ev.UnmarshalJSON(body); err != nil {
			return nil, fmt.Errorf("%w: structured mode: %w", ErrMalformed, err)
		}
		return &ev, nil
	}
	data, hasData := members["data"]
	b64, hasBase64 := members["data_base64"]
	if hasData && hasBase64 {
		return nil, fmt.Errorf("%w: structured mode: data and data_base64 are both given: an event has one or the other", ErrMalformed)
	}
	delete(members, "data")
	delete(members, "data_base64")
	if err := normaliseTime(members); err != nil {
		return nil, err
	}
	attributes, err := json.Marshal(members)
	if err != nil {
		return nil, fmt.Errorf("%w: structured mode: %w", ErrMalformed, err)
	}
	ev := event.New()
	if err := ev.UnmarshalJSON(attributes); err != nil {
		return nil, fmt.Errorf("%w: structured mode: %w", ErrMalformed, err)
	}
	switch {
	case hasBase64:
		err = setBase64Data(&ev, b64)
	case hasData:
		err = setData(&ev, data)
	}
	if err != nil {
		return nil, err
	}
	return &ev, nil
}

// normaliseTime rewrites a structured event's time member as the SDK
// reads it (RFC 3339 allows a lower-case t and z; the SDK does not).
func normaliseTime(members map[string]json.RawMessage) error {
	t, err := stringMember(members, "time")
	if err != nil || t == "" {
		return err
	}
	if t, err = rfc3339(t); err != nil {
		return err
	}
	members["time"], _ = json.Marshal(t)
	return nil
}

// setBase64Data sets the event's data from a structured event's data_base64.
func setBase64Data(ev *event.Event, b64 json.RawMessage) error {
	var s string
	if err := json.Unmarshal(b64, &s); err != nil {
		return fmt.Errorf("%w: structured mode: data_base64 must be a JSON string", ErrMalformed)
	}
	decoded, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return fmt.Errorf("%w: structured mode: data_base64 is not base64: %w", ErrMalformed, err)
	}
	ev.DataEncoded, ev.DataBase64 = decoded, true
	return nil
}

// setData sets the event's data from a structured event's data member: JSON
// as it is when the content type is JSON, else the string it must be.
func setData(ev *event.Event, data json.RawMessage) error {
	if dataIsJSON(ev.DataContentType()) {
		ev.DataEncoded = data
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("%w: structured mode: the data of datacontenttype %q must be a JSON string (or use data_base64)",
			ErrMalformed, ev.DataContentType())
	}
	ev.DataEncoded = []byte(s)
	return nil
}

// stringMember returns the member name of a structured event, "" when it is
// absent, or an error when it is not a JSON string.
func stringMember(members map[string]json.RawMessage, name string) (string, error) {
	raw, ok := members[name]
	if !ok {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%w: structured mode: %s must be a JSON string, not %s", ErrMalformed, name, truncate(raw))
	}
	return s, nil
}

// truncate shortens a value quoted in a message.
func truncate(raw json.RawMessage) string {
	const max = 40
	if len(raw) > max {
		return string(raw[:max]) + "…"
	}
	return string(raw)
}
