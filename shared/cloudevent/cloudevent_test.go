package cloudevent

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/google/go-cmp/cmp"

	"github.com/mskafka/knative-functions/shared/web"
)

// binaryHeader is a valid binary-mode event's header with changes: an
// empty value removes the header.
func binaryHeader(changes map[string]string) http.Header {
	h := http.Header{}
	for k, v := range map[string]string{"Ce-Specversion": "1.0", "Ce-Id": "e1", "Ce-Source": "/order",
		"Ce-Type": "com.example.order.placed", "Content-Type": "application/json"} {
		h.Set(k, v)
	}
	for k, v := range changes {
		if v == "" {
			h.Del(k)
		} else {
			h.Set(k, v)
		}
	}
	return h
}

var structuredHeader = http.Header{"Content-Type": {"application/cloudevents+json"}}

// Read refuses what no sender can fix by retrying, with a status from the
// one table (web.StatusOf) and a message that says what is wrong; what it
// takes, it takes with the data as sent.
func TestRead(t *testing.T) {
	tests := []struct {
		name       string
		header     http.Header
		body       string
		wantStatus int    // 0: read
		want       string // the data read, or in the error
	}{
		{"binary", binaryHeader(nil), `{"id":7}`, 0, `{"id":7}`},
		{"binary, time in lower case", binaryHeader(map[string]string{"Ce-Time": "2026-11-25t10:00:00.5z"}), `{}`, 0, `{}`},
		{"structured", structuredHeader, `{"specversion":"1.0","id":"e1","source":"/o","type":"t","data":{"id":7}}`, 0, `{"id":7}`},
		{"structured, +json data in capitals", structuredHeader,
			`{"specversion":"1.0","id":"e1","source":"/o","type":"t","datacontenttype":"Application/Vnd.Order+JSON","data":{"id":7}}`, 0, `{"id":7}`},
		{"structured, data_base64", structuredHeader, `{"specversion":"1.0","id":"e1","source":"/o","type":"t","data_base64":"eyJpZCI6N30="}`, 0, `{"id":7}`},
		{"binary 0.3", binaryHeader(map[string]string{"Ce-Specversion": "0.3"}), `{"id":7}`, 0, `{"id":7}`},
		{"structured 0.3", structuredHeader, `{"specversion":"0.3","id":"e1","source":"/o","type":"t","data":{"id":7}}`, 0, `{"id":7}`},
		{"structured 0.3, base64", structuredHeader,
			`{"specversion":"0.3","id":"e1","source":"/o","type":"t","datacontentencoding":"base64","data":"eyJpZCI6N30="}`, 0, `{"id":7}`},
		{"structured, text data", structuredHeader, `{"specversion":"1.0","id":"e1","source":"/o","type":"t","datacontenttype":"text/plain","data":"hi"}`, 0, `hi`},
		{"no attribute at all", http.Header{"Content-Type": {"application/json"}}, `{}`, 415, "not a CloudEvent: want a ce-specversion header"},
		{"binary without specversion", binaryHeader(map[string]string{"Ce-Specversion": ""}), `{}`, 400, "the ce-specversion header is missing"},
		{"binary specversion 2.0", binaryHeader(map[string]string{"Ce-Specversion": "2.0"}), `{}`, 400, `specversion "2.0" is not supported: want 1.0`},
		{"binary without id", binaryHeader(map[string]string{"Ce-Id": ""}), `{}`, 400, "binary mode: the ce-id header is missing"},
		{"binary type twice", func() http.Header {
			h := binaryHeader(nil)
			h.Add("Ce-Type", "dev.knative.sources.ping")
			return h
		}(), `{}`, 400, "header ce-type is given 2 times"},
		{"binary time not RFC 3339", binaryHeader(map[string]string{"Ce-Time": "2026-11-25 10:00"}), `{}`, 400, `time "2026-11-25 10:00" is not an RFC 3339 timestamp`},
		{"id of 900 kB", binaryHeader(map[string]string{"Ce-Id": strings.Repeat("x", 900<<10)}), `{}`, 400, "id is 921600 bytes long"},
		{"id not UTF-8", binaryHeader(map[string]string{"Ce-Id": "e\xff1"}), `{}`, 400, "id is not valid UTF-8"},
		{"type with a NUL", binaryHeader(map[string]string{"Ce-Type": "com.example\x00"}), `{}`, 400, "type contains a NUL"},
		{"body too large", binaryHeader(nil), strings.Repeat(" ", 2048) + `{}`, 413, "request body too large"},
		{"structured body too large", structuredHeader, strings.Repeat(" ", 2048) + `{}`, 413, "request body too large"},
		{"structured, not an object", structuredHeader, `[{"specversion":"1.0"}]`, 400, "the body must be a JSON object"},
		{"structured without specversion", structuredHeader, `{"id":"e1","source":"/o","type":"t"}`, 400, "the required attribute specversion is missing"},
		{"structured specversion a number", structuredHeader, `{"specversion":1.0,"id":"e1","source":"/o","type":"t"}`, 400, "specversion must be a JSON string, not 1.0"},
		{"structured specversion 2.0", structuredHeader, `{"specversion":"2.0","id":"e1","source":"/o","type":"t"}`, 400, `specversion "2.0" is not supported`},
		{"structured without source", structuredHeader, `{"specversion":"1.0","id":"e1","type":"t"}`, 400, "the required attribute source is missing"},
		{"structured data and data_base64", structuredHeader, `{"specversion":"1.0","id":"e1","source":"/o","type":"t","data":{},"data_base64":"e30="}`, 400, "both given"},
		{"structured data_base64 not base64", structuredHeader, `{"specversion":"1.0","id":"e1","source":"/o","type":"t","data_base64":"{}"}`, 400, "data_base64 is not base64"},
		{"structured text data not a string", structuredHeader, `{"specversion":"1.0","id":"e1","source":"/o","type":"t","datacontenttype":"text/plain","data":{}}`, 400, "must be a JSON string"},
		{"structured in latin1", http.Header{"Content-Type": {"application/cloudevents+json; charset=ISO-8859-1"}}, `{}`, 415, `charset "ISO-8859-1" is not accepted, only UTF-8`},
		{"batched", http.Header{"Content-Type": {"Application/CloudEvents-Batch+JSON"}}, `[]`, 415, "batched mode (application/cloudevents-batch+json) is not supported"},
		{"XML format", http.Header{"Content-Type": {"application/cloudevents+xml"}}, `<e/>`, 415, "event format application/cloudevents+xml is not supported"},
		{"Content-Type twice", http.Header{"Content-Type": {"application/cloudevents+json", "application/json"}}, `{}`, 400, "Content-Type is given 2 times"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body))
			r.Header = tt.header.Clone()
			ev, err := Read(httptest.NewRecorder(), r, 1024)
			if tt.wantStatus == 0 {
				if err != nil {
					t.Fatalf("Read: %v", err)
				}
				if diff := cmp.Diff(tt.want, string(ev.Data())); diff != "" {
					t.Errorf("data (-want +got):\n%s", diff)
				}
				return
			}
			if err == nil || web.StatusOf(err) != tt.wantStatus || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Read: %v (status %d), want %d saying %q", err, web.StatusOf(err), tt.wantStatus, tt.want)
			}
		})
	}
}

// One reading of a datacontenttype: JSON by the CloudEvents JSON format's
// rules, in any letter case, with parameters; other charsets refused.
func TestJSONData(t *testing.T) {
	tests := []struct {
		contentType string
		want        string // in the error; "" for JSON
	}{
		{"", ""},
		{"application/json", ""},
		{"Application/JSON", ""},
		{"application/json; charset=utf-8", ""},
		{"application/json;charset=\"UTF-8\"", ""},
		{"application/vnd.example.order+json", ""},
		{"application/cloudevents+json", ""},
		{"application/json; charset=iso-8859-1", `charset "iso-8859-1" is not accepted, only UTF-8`},
		{"text/json", "want application/json or a media type ending in +json"},
		{"application/xml", "want application/json or a media type ending in +json"},
		{"application/json; charset", "is not a media type"},
	}
	for _, tt := range tests {
		t.Run(tt.contentType, func(t *testing.T) {
			ev := event.New()
			if tt.contentType != "" {
				ev.SetDataContentType(tt.contentType)
			}
			err := JSONData(&ev)
			if tt.want == "" {
				if err != nil {
					t.Errorf("JSONData: %v", err)
				}
				return
			}
			if err == nil || web.StatusOf(err) != http.StatusUnsupportedMediaType || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("JSONData: %v (status %d), want 415 saying %q", err, web.StatusOf(err), tt.want)
			}
		})
	}
}
