package cloudevent

import (
	"fmt"
	"mime"
	"strings"

	"github.com/cloudevents/sdk-go/v2/event"
)

// The media types of the structured content modes (CloudEvents HTTP
// binding, 3.2 and 3.3): JSON is the one event format this project reads,
// and batched mode is refused.
const (
	formatPrefix = "application/cloudevents"
	formatJSON   = event.ApplicationCloudEventsJSON
	formatBatch  = event.ApplicationCloudEventsBatchJSON
)

// mediaType reads a media type as RFC 9110 has it, the one reading of a
// Content-Type or datacontenttype in the project: type and subtype in any
// letter case (returned in lower case), parameters allowed. A charset other
// than UTF-8 is refused: JSON is UTF-8 (RFC 8259), and every text this
// project stores is. The error gives the reason; callers say where the
// media type came from.
func mediaType(s string) (string, error) {
	mt, params, err := mime.ParseMediaType(s)
	if err != nil {
		return "", fmt.Errorf("%q is not a media type: %w", s, err)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return "", fmt.Errorf("%q: charset %q is not accepted, only UTF-8", s, cs)
	}
	return mt, nil
}

// isJSON reports whether a media type, as mediaType returns it, says JSON
// by the rules of the CloudEvents JSON format (3.1): application/json, or
// any type with the structured syntax suffix +json.
func isJSON(mt string) bool {
	return mt == event.ApplicationJSON || strings.HasSuffix(mt, "+json")
}

// JSONData checks that ev's data is JSON by its datacontenttype, which is
// what order and the sinks decode. An absent datacontenttype means JSON
// (CloudEvents JSON format, 3.1). Anything else is ErrMediaType (415): no
// retry can make such data an order.
func JSONData(ev *event.Event) error {
	ct := ev.DataContentType()
	if ct == "" {
		return nil
	}
	mt, err := mediaType(ct)
	if err != nil {
		return fmt.Errorf("%w: datacontenttype %w", ErrMediaType, err)
	}
	if !isJSON(mt) {
		return fmt.Errorf("%w: datacontenttype %q: want application/json or a media type ending in +json", ErrMediaType, ct)
	}
	return nil
}

// isFormat reports whether a Content-Type names an event format, which
// makes the request structured (or batched) whatever else it carries
// (HTTP binding, 3: the Content-Type decides before any ce- header).
func isFormat(contentType string) bool {
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(contentType)), formatPrefix)
}

// dataIsJSON tells how the data member of a structured event is written:
// as a JSON value for a JSON media type or none, else as a JSON string.
// The charset is not looked at here, so that JSONData refuses a JSON type
// in another charset with a 415 that names it, rather than the data
// failing as a string; a datacontenttype that cannot be parsed counts as
// not JSON, and JSONData refuses it with its reason.
func dataIsJSON(datacontenttype string) bool {
	if datacontenttype == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(datacontenttype)
	return err == nil && isJSON(mt)
}

// checkVersion refuses a specversion other than 1.0 and 0.3, the two the
// CloudEvents SDK decodes; its own error for the others ("unknown Message
// encoding") does not say what is wrong.
func checkVersion(v string) error {
	if v != event.CloudEventsVersionV1 && v != event.CloudEventsVersionV03 {
		return fmt.Errorf("%w: specversion %q is not supported: want %s", ErrMalformed, v, event.CloudEventsVersionV1)
	}
	return nil
}
