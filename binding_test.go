package function

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mskafka/knative-functions/functions/invoicing"
	"github.com/mskafka/knative-functions/functions/order"
	"github.com/mskafka/knative-functions/functions/shipping"
	"github.com/mskafka/knative-functions/shared/db"
	"github.com/mskafka/knative-functions/shared/events"
	"github.com/mskafka/knative-functions/shared/sink"
	"github.com/mskafka/knative-functions/shared/telemetry"
	"github.com/mskafka/knative-functions/shared/testenv"
)

// The data each function takes: a command's order request, and the order
// of a placed event.
const (
	placeData  = `{"customer":{"customerId":1},"shippingAddress":{"street":"Ohlauer Str. 43","zip":"10999","city":"Berlin"},"billingAddress":{"street":"Krischerstr. 100","zip":"40789","city":"Monheim am Rhein"},"orderLine":[{"count":2,"item":{"itemId":1}}]}`
	placedData = `{"id":7,"customer":{"customerId":1,"name":"Wolff","firstname":"Eberhard","email":"eberhard.wolff@gmail.com"},"updated":"2026-11-25T10:00:00Z","shippingAddress":{"street":"Ohlauer Str. 43","zip":"10999","city":"Berlin"},"billingAddress":{"street":"Krischerstr. 100","zip":"40789","city":"Monheim am Rhein"},"orderLine":[{"count":2,"item":{"itemId":1,"name":"iPod","price":42.0}}],"numberOfLines":1}`
	pingType   = "dev.knative.sources.ping"
)

// header is a request's header as sent: names in the letter case written,
// in order, a name given twice sent twice.
type header [][2]string

// binary is a valid binary-mode event's header with changes: a change
// replaces the header of its name (in any letter case) or adds it; an
// empty value removes it.
func binary(changes ...[2]string) header {
	h := header{{"ce-specversion", "1.0"}, {"ce-id", "{id}"}, {"ce-source", "/binding-test"},
		{"ce-type", "{type}"}, {"content-type", "application/json"}}
	for _, c := range changes {
		i := 0
		for ; i < len(h) && !strings.EqualFold(h[i][0], c[0]); i++ {
		}
		switch {
		case i == len(h):
			h = append(h, c)
		case c[1] == "":
			h = append(h[:i], h[i+1:]...)
		default:
			h[i] = c
		}
	}
	return h
}

// structured is the header of a structured-mode event.
var structured = header{{"Content-Type", "application/cloudevents+json"}}

// envelope is a structured event with the required attributes and the
// members given (a leading comma each).
func envelope(members string) string {
	return `{"specversion":"1.0","id":"{id}","source":"/binding-test","type":"{type}"` + members + `}`
}

// statuses is what each function answers; accepted stands for any 2xx
// (order answers 201 for a new order, the sinks 200).
type statuses map[string]int

const accepted = http.StatusOK

func all(status int) statuses {
	return statuses{"order": status, "shipping": status, "invoicing": status}
}

// TestPostgresKafkaHTTPBinding sends each shape of the CloudEvents HTTP
// binding to the real order function (on Postgres, its relay on Kafka) and
// to both real sinks (on Postgres), so the three read events alike: what
// one takes, all take; what one refuses, all refuse, with the same 4xx and
// message; none answers 5xx. In each request {type} is the type the
// function takes (com.example.order.place for order, .placed for the
// sinks), {data} its data, {data64} that in base64, and {id} an id of the
// row's own. A ping goes to an order with an unsent outbox that nothing
// else touches: only a valid ping may drain it; the sinks take the same
// pings (their retention), in binary mode only, as order does.
func TestPostgresKafkaHTTPBinding(t *testing.T) {
	fns := startBinding(t)
	tests := []struct {
		name   string
		header header
		body   string
		ping   bool // {type} is the ping's, sent to the order with a backlog
		want   statuses
		msg    string // in the error of every 4xx
	}{
		{"binary", binary(), "{data}", false, all(accepted), ""},
		{"structured", structured, envelope(`,"datacontenttype":"application/json","data":{data}`), false, all(accepted), ""},

		// Media types: any letter case, parameters, +json; only UTF-8.
		{"binary, charset=utf-8", binary([2]string{"content-type", "application/json; charset=utf-8"}), "{data}", false, all(accepted), ""},
		{"binary, Application/JSON", binary([2]string{"content-type", "Application/JSON"}), "{data}", false, all(accepted), ""},
		{"binary, +json", binary([2]string{"content-type", "application/vnd.example.order+json"}), "{data}", false, all(accepted), ""},
		{"binary, no content type", binary([2]string{"content-type", ""}), "{data}", false, all(accepted), ""},
		{"binary, charset latin1", binary([2]string{"content-type", "application/json; charset=ISO-8859-1"}), "{data}", false,
			all(415), `charset "ISO-8859-1" is not accepted, only UTF-8`},
		{"binary, text/plain", binary([2]string{"content-type", "text/plain"}), "{data}", false,
			all(415), "want application/json or a media type ending in +json"},
		{"structured, format in capitals with charset", header{{"content-type", "Application/CloudEvents+JSON; Charset=UTF-8"}},
			envelope(`,"data":{data}`), false, all(accepted), ""},
		{"structured, datacontenttype with charset", structured, envelope(`,"datacontenttype":"application/json; charset=utf-8","data":{data}`), false, all(accepted), ""},
		{"structured, datacontenttype in capitals", structured, envelope(`,"datacontenttype":"Application/JSON","data":{data}`), false, all(accepted), ""},
		{"structured, datacontenttype +json", structured, envelope(`,"datacontenttype":"application/vnd.example.order+json","data":{data}`), false, all(accepted), ""},
		{"structured, no datacontenttype", structured, envelope(`,"data":{data}`), false, all(accepted), ""},
		{"structured, datacontenttype latin1", structured, envelope(`,"datacontenttype":"application/json; charset=latin1","data":{data}`), false,
			all(415), `charset "latin1" is not accepted`},
		{"structured, format in latin1", header{{"Content-Type", "application/cloudevents+json; charset=iso-8859-1"}}, envelope(`,"data":{data}`), false,
			all(415), `charset "iso-8859-1" is not accepted`},
		{"structured, XML format", header{{"Content-Type", "application/cloudevents+xml"}}, "<event/>", false,
			all(415), "event format application/cloudevents+xml is not supported"},

		// Header names in any letter case.
		{"binary, header names in any case", header{{"CE-SPECVERSION", "1.0"}, {"Ce-Id", "{id}"}, {"cE-sOuRcE", "/binding-test"},
			{"CE-type", "{type}"}, {"CONTENT-TYPE", "application/json"}}, "{data}", false, all(accepted), ""},

		// Extension attributes.
		{"binary, extensions", binary([2]string{"ce-partitionkey", "7"}, [2]string{"CE-COMEXAMPLEEXT", "value"}), "{data}", false, all(accepted), ""},
		{"structured, extensions", structured, envelope(`,"comexampleext":"value","partitionkey":"7","knativearrivaltime":"2026-11-25T10:00:00Z","data":{data}`), false, all(accepted), ""},
		{"binary, extension name not lower-case alphanumeric", binary([2]string{"ce-example_ext", "v"}), "{data}", false, all(400), "malformed CloudEvent"},
		{"structured, extension name not lower-case alphanumeric", structured, envelope(`,"Example-Ext":"v","data":{data}`), false, all(400), "malformed CloudEvent"},

		// time: offsets, fractions, and the lower-case t and z RFC 3339 allows.
		{"binary, time with offset and nanoseconds", binary([2]string{"ce-time", "2026-11-25T10:00:00.123456789+02:00"}), "{data}", false, all(accepted), ""},
		{"structured, time with negative offset and fraction", structured, envelope(`,"time":"2026-11-25T10:00:00.5-05:30","data":{data}`), false, all(accepted), ""},
		{"binary, time in lower case", binary([2]string{"ce-time", "2026-11-25t10:00:00.25z"}), "{data}", false, all(accepted), ""},
		{"structured, time in lower case", structured, envelope(`,"time":"2026-11-25t10:00:00z","data":{data}`), false, all(accepted), ""},
		{"binary, time not RFC 3339", binary([2]string{"ce-time", "25.11.2026 10:00"}), "{data}", false, all(400), `time "25.11.2026 10:00" is not an RFC 3339 timestamp`},
		{"structured, time not RFC 3339", structured, envelope(`,"time":"2026-11-25 10:00","data":{data}`), false, all(400), `time "2026-11-25 10:00" is not an RFC 3339 timestamp`},

		// data_base64.
		{"structured, data_base64", structured, envelope(`,"datacontenttype":"application/json","data_base64":"{data64}"`), false, all(accepted), ""},
		{"structured, data_base64 without datacontenttype", structured, envelope(`,"data_base64":"{data64}"`), false, all(accepted), ""},
		{"structured, data and data_base64", structured, envelope(`,"data":{data},"data_base64":"{data64}"`), false,
			all(400), "data and data_base64 are both given"},
		{"structured, data_base64 not base64", structured, envelope(`,"data_base64":"{not base64}"`), false, all(400), "data_base64 is not base64"},

		// Batched mode is refused, never 5xx.
		{"batched", header{{"Content-Type", "application/cloudevents-batch+json"}}, "[" + envelope(`,"data":{data}`) + "]", false,
			all(415), "batched mode (application/cloudevents-batch+json) is not supported"},
		{"batched, in capitals", header{{"Content-Type", "Application/CloudEvents-Batch+JSON; charset=utf-8"}}, "[]", false,
			all(415), "batched mode"},

		// Missing required attributes.
		{"binary, no specversion", binary([2]string{"ce-specversion", ""}), "{data}", false, all(400), "the ce-specversion header is missing"},
		{"binary, no id", binary([2]string{"ce-id", ""}), "{data}", false, all(400), "the ce-id header is missing"},
		{"binary, no source", binary([2]string{"ce-source", ""}), "{data}", false, all(400), "the ce-source header is missing"},
		{"binary, no type", binary([2]string{"ce-type", ""}), "{data}", false, all(400), "the ce-type header is missing"},
		{"structured, no specversion", structured, `{"id":"{id}","source":"/binding-test","type":"{type}","data":{data}}`, false,
			all(400), "the required attribute specversion is missing"},
		{"structured, no id", structured, `{"specversion":"1.0","source":"/binding-test","type":"{type}","data":{data}}`, false,
			all(400), "the required attribute id is missing"},
		{"structured, no source", structured, `{"specversion":"1.0","id":"{id}","type":"{type}","data":{data}}`, false,
			all(400), "the required attribute source is missing"},
		{"structured, no type", structured, `{"specversion":"1.0","id":"{id}","source":"/binding-test","data":{data}}`, false,
			all(400), "the required attribute type is missing"},

		// Unknown specversion.
		{"binary, specversion 2.0", binary([2]string{"ce-specversion", "2.0"}), "{data}", false, all(400), `specversion "2.0" is not supported: want 1.0`},
		{"structured, specversion 2.0", structured, strings.Replace(envelope(`,"data":{data}`), `"1.0"`, `"2.0"`, 1), false,
			all(400), `specversion "2.0" is not supported: want 1.0`},

		// Other envelope errors.
		{"no CloudEvent at all", header{{"Content-Type", "application/json"}}, "{data}", false, all(415), "not a CloudEvent"},
		{"structured, body not an object", structured, `[{data}]`, false, all(400), "the body must be a JSON object"},
		{"structured, body not JSON", structured, `{"specversion":`, false, all(400), "the body must be a JSON object"},
		{"structured, specversion a number", structured, `{"specversion":1.0,"id":"{id}","source":"/binding-test","type":"{type}"}`, false,
			all(400), "specversion must be a JSON string"},
		{"binary, type given twice", append(binary(), [2]string{"Ce-Type", "{type}"}), "{data}", false,
			all(400), "header ce-type is given 2 times"},

		// The ping: a CloudEvent like any other, then routed by its type.
		{"ping", binary(), `{"drain":"outbox"}`, true, all(accepted), ""},
		{"ping, only a ce-type header", header{{"ce-type", "{type}"}}, ``, true, all(400), "the ce-specversion header is missing"},
		{"ping, no id", binary([2]string{"ce-id", ""}), `{}`, true, all(400), "the ce-id header is missing"},
		{"ping, no source", binary([2]string{"ce-source", ""}), `{}`, true, all(400), "the ce-source header is missing"},
		{"ping, specversion 2.0", binary([2]string{"ce-specversion", "2.0"}), `{}`, true, all(400), `specversion "2.0" is not supported`},
		{"ping, type given twice", append(binary(), [2]string{"ce-type", events.TypePlace}), `{}`, true,
			all(400), "header ce-type is given 2 times"},
		{"ping, structured", structured, envelope(`,"data":{}`), true, all(415), "binary mode only"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := statuses{}
			for _, fn := range fns {
				target, typ, data := fn.url, fn.typ, fn.data
				if tt.ping {
					target, typ = fn.pinged, pingType
				}
				var before int64
				if tt.ping && fn.backlog != nil {
					before = fn.backlog(t, true)
				}
				id := fmt.Sprintf("binding-%d", i)
				fill := strings.NewReplacer("{id}", id, "{type}", typ, "{data}", data,
					"{data64}", base64.StdEncoding.EncodeToString([]byte(data)))
				resp, body := post(t, target, tt.header, fill, tt.body)
				got[fn.name] = resp.StatusCode
				if resp.StatusCode/100 == 2 {
					got[fn.name] = accepted
				}
				switch {
				case resp.StatusCode >= 400 && tt.msg != "":
					var e struct{ Error string }
					_ = json.Unmarshal(body, &e)
					if !strings.Contains(e.Error, tt.msg) {
						t.Errorf("%s: error %q, want it to say %q", fn.name, e.Error, tt.msg)
					}
				case resp.StatusCode/100 == 2 && !tt.ping:
					fn.check(t, resp, body)
				}
				if tt.ping && fn.backlog != nil {
					after := fn.backlog(t, false)
					if drained := resp.StatusCode/100 == 2; drained && after != 0 || !drained && after != before {
						t.Errorf("%s: outbox holds %d unsent after %q was answered %d, had %d", fn.name, after, tt.name, resp.StatusCode, before)
					}
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("statuses (-want +got):\n%s", diff)
			}
		})
	}
}

// post sends body (filled) with h (filled, names as written) to url.
func post(t *testing.T, url string, h header, fill *strings.Replacer, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(fill.Replace(body)))
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range h {
		// Set directly: Header.Add would make the name canonical.
		req.Header[kv[0]] = append(req.Header[kv[0]], fill.Replace(kv[1]))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// bindingFunction is one function under the binding test.
type bindingFunction struct {
	name      string
	url       string // where events go
	pinged    string // where pings go (for order: the order with a backlog)
	typ, data string // the event type and data it takes
	// check looks at an accepted event's answer.
	check func(t *testing.T, resp *http.Response, body []byte)
	// backlog reports order's unsent outbox rows, first placing one when
	// there are none and fill is set; nil for the sinks.
	backlog func(t *testing.T, fill bool) int64
}

// startBinding starts order twice (one for events, one for pings alone)
// and both sinks, each on a fresh schema, behind HTTP servers.
func startBinding(t *testing.T) []bindingFunction {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	tel := telemetry.Noop()
	brokers := testenv.KafkaBrokers(t)
	topic := testenv.TopicName(t, "order")
	testenv.CreateTopic(t, brokers, topic, 1)
	serve := func(h http.Handler, stop func(context.Context) error) string {
		srv := httptest.NewServer(h)
		t.Cleanup(func() {
			srv.Close()
			if err := stop(ctx); err != nil {
				t.Errorf("stop: %v", err)
			}
		})
		return srv.URL + "/"
	}
	// The relay's interval is far beyond the test: only an order placed
	// through the function, or a ping, makes it send.
	startOrder := func(cfg order.Config) string {
		f, err := order.Start(ctx, cfg, log, tel)
		if err != nil {
			t.Fatal(err)
		}
		return serve(f, f.Stop)
	}
	config := func() order.Config {
		url, schema := testenv.Schema(t, "order")
		return order.Config{DatabaseURL: url, DatabaseSchema: schema, DBMaxConns: 4,
			KafkaBrokers: brokers, KafkaTopic: topic, OutboxInterval: time.Hour, GroupCommit: 8}
	}
	orderURL := startOrder(config())
	pingedCfg := config()
	pingedURL := startOrder(pingedCfg)
	pool, err := db.Open(ctx, pingedCfg.DatabaseURL, pingedCfg.DatabaseSchema, 2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	store := order.NewStore(pool)
	// This relay never runs: it only counts what is unsent.
	counter := order.NewRelay(pool, topic, time.Hour, nil, log)
	placed, err := events.DecodeOrder([]byte(placedData))
	if err != nil {
		t.Fatal(err)
	}
	backlog := func(t *testing.T, fill bool) int64 {
		t.Helper()
		b, err := counter.Backlog(ctx)
		if err == nil && fill && b.Unsent == 0 {
			// Placed through the store, not the function: nothing wakes
			// the function's relay, so only a ping can send it.
			if _, err = store.Place(ctx, order.RequestFromOrder(placed), nil); err == nil {
				b, err = counter.Backlog(ctx)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		return b.Unsent
	}

	fns := []bindingFunction{{name: "order", url: orderURL, pinged: pingedURL, typ: events.TypePlace, data: placeData, backlog: backlog,
		check: func(t *testing.T, resp *http.Response, _ []byte) {
			if got := resp.Header.Get("Ce-Type"); got != events.TypePlaced {
				t.Errorf("order: reply of type %q, want %s", got, events.TypePlaced)
			}
		}}}
	for name, start := range map[string]func(context.Context, sink.Config, *slog.Logger, *telemetry.Telemetry) (*sink.Function, error){
		"shipping": shipping.Start, "invoicing": invoicing.Start,
	} {
		url, schema := testenv.Schema(t, name)
		f, err := start(ctx, sink.Config{DatabaseURL: url, DatabaseSchema: schema, DBMaxConns: 4,
			HandledRetention: 216 * time.Hour, RetentionBatch: 1000, RetentionTime: time.Second}, log, tel)
		if err != nil {
			t.Fatal(err)
		}
		u := serve(f, f.Stop)
		fns = append(fns, bindingFunction{name: name, url: u, pinged: u, typ: events.TypePlaced, data: placedData,
			check: func(t *testing.T, _ *http.Response, body []byte) {
				if !strings.Contains(string(body), `"orderId": 7`) {
					t.Errorf("%s: answer %s, want order 7 handled", name, body)
				}
			}})
	}
	return fns
}
