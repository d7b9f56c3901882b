package cloudevent

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mskafka/knative-functions/shared/web"
)

// Read refuses what no sender can fix by retrying, with a status from the
// one table (web.StatusOf) and a message that says what is wrong.
func TestRead(t *testing.T) {
	tests := []struct {
		name       string
		header     map[string]string
		body       string
		wantStatus int
		wantErr    string
	}{
		{"valid", nil, `{}`, 0, ""},
		{"not a CloudEvent", map[string]string{"Ce-Specversion": ""}, `{}`, 415, "not a CloudEvent"},
		{"no id", map[string]string{"Ce-Id": ""}, `{}`, 400, "malformed CloudEvent"},
		{"id of 900 kB", map[string]string{"Ce-Id": strings.Repeat("x", 900<<10)}, `{}`, 400, "id is 921600 bytes long"},
		{"id not UTF-8", map[string]string{"Ce-Id": "e\xff1"}, `{}`, 400, "id is not valid UTF-8"},
		{"type with a NUL", map[string]string{"Ce-Type": "com.example\x00"}, `{}`, 400, "type contains a NUL"},
		{"body too large", nil, strings.Repeat(" ", 2048) + `{}`, 413, "request body too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body))
			for k, v := range map[string]string{"Ce-Specversion": "1.0", "Ce-Id": "e1", "Ce-Source": "/order",
				"Ce-Type": "com.example.order.placed", "Content-Type": "application/json"} {
				r.Header.Set(k, v)
			}
			for k, v := range tt.header {
				r.Header.Set(k, v)
			}
			_, err := Read(httptest.NewRecorder(), r, 1024)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Read: %v", err)
				}
				return
			}
			if err == nil || web.StatusOf(err) != tt.wantStatus || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Read: %v (status %d), want %d saying %q", err, web.StatusOf(err), tt.wantStatus, tt.wantErr)
			}
		})
	}
}
