package systest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/google/go-cmp/cmp"

	"github.com/mskafka/knative-functions/shared/events"
	"github.com/mskafka/knative-functions/shared/testenv"
)

// The shapes the test reads back from the sinks' JSON APIs.
type (
	address  struct{ Street, Zip, City string }
	customer struct {
		CustomerID int64 `json:"customerId"`
		Name       string
		Firstname  string
		Email      string
	}
	shipLine struct {
		ItemID int64 `json:"itemId"`
		Name   string
		Count  int
	}
	shipment struct {
		ID              int64
		Customer        customer
		ShippingAddress address `json:"shippingAddress"`
		Lines           []shipLine
		Cancelled       bool
	}
	invoiceLine struct {
		ItemID int64 `json:"itemId"`
		Name   string
		Count  int
		Price  json.Number
		Total  json.Number
	}
	invoice struct {
		ID             int64
		Customer       customer
		BillingAddress address `json:"billingAddress"`
		Lines          []invoiceLine
		Total          json.Number
		Cancelled      bool
	}
)

var (
	wolff   = customer{CustomerID: 1, Name: "Wolff", Firstname: "Eberhard", Email: "eberhard.wolff@gmail.com"}
	johnson = customer{CustomerID: 2, Name: "Johnson", Firstname: "Rod", Email: "rod@somewhere.com"}
	berlin  = address{"Ohlauer Str. 43", "10999", "Berlin"}
	monheim = address{"Krischerstr. 100", "40789", "Monheim am Rhein"}
)

func TestEndToEnd(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	dbURL := testenv.Database(t, "stack")
	freshTopics(t, brokers)
	st := startStack(t, dbURL, strings.Join(brokers, ","), 23100)
	gw := st.gateway

	// The orders the steps place, for the steps that check them. A step
	// that places orders runs once: in its own turn, or first thing in a
	// later step that needs its orders when -run left it out.
	var api, binOrder, structured orderReply
	var formID int64
	placing := map[string]func(*testing.T){}
	done := map[string]bool{}
	ensure := func(t *testing.T, steps ...string) {
		t.Helper()
		for _, name := range steps {
			if !done[name] {
				done[name] = true
				placing[name](t)
			}
		}
	}
	place := func(name string, f func(*testing.T)) {
		placing[name] = f
		t.Run(name, func(t *testing.T) { ensure(t, name) })
	}

	place("json api", func(t *testing.T) {
		api = postJSON(t, gw+"/order/api/orders", `{"customer":{"customerId":1},
		"shippingAddress":{"street":"Ohlauer Str. 43","zip":"10999","city":"Berlin"},
		"billingAddress":{"street":"Krischerstr. 100","zip":"40789","city":"Monheim am Rhein"},
		"orderLine":[{"count":2,"item":{"itemId":1}},{"count":3,"item":{"itemId":3}}]}`)
	})

	place("binary command repeated", func(t *testing.T) {
		cmdBody := `{"customer":{"customerId":2},"shippingAddress":{"street":"Ohlauer Str. 43","zip":"10999","city":"Berlin"},
		"billingAddress":{"street":"Ohlauer Str. 43","zip":"10999","city":"Berlin"},"orderLine":[{"count":1,"item":{"itemId":4}}]}`
		first := postBinary(t, gw+"/order/", "e2e-cmd-1", cmdBody)
		again := postBinary(t, gw+"/order/", "e2e-cmd-1", cmdBody)
		if first.status != 201 || again.status != 200 {
			t.Errorf("command statuses = %d then %d, want 201 then 200", first.status, again.status)
		}
		if diff := cmp.Diff(first.header, again.header); diff != "" {
			t.Errorf("repeated command got another reply event (-first +again):\n%s", diff)
		}
		if first.header["Ce-Type"] != "com.example.order.placed" || first.header["Ce-Source"] != "/order" {
			t.Errorf("reply attributes = %v", first.header)
		}
		json.Unmarshal(first.body, &binOrder)
	})

	place("structured command", func(t *testing.T) {
		structured = postStructured(t, gw+"/order/", `{"specversion":"1.0","type":"com.example.order.place","source":"e2e","id":"e2e-cmd-2",
		"datacontenttype":"application/json","data":{"customer":{"customerId":1},
		"shippingAddress":{"street":"Ohlauer Str. 43","zip":"10999","city":"Berlin"},
		"billingAddress":{"street":"Krischerstr. 100","zip":"40789","city":"Monheim am Rhein"},
		"orderLine":[{"count":1,"item":{"itemId":2}}]}}`)
	})

	place("html form with an added line", func(t *testing.T) {
		formID = postForm(t, gw+"/order/new", url.Values{
			"customer": {"2"}, "shippingStreet": {"Ohlauer Str. 43"}, "shippingZip": {"10999"}, "shippingCity": {"Berlin"},
			"billingSame": {"1"}, "item": {"1", "2"}, "count": {"1", "2"}, "action": {"place"},
		})
	})

	t.Run("bad input refused", func(t *testing.T) {
		for _, bad := range []struct {
			name, body string
			status     int
		}{
			{"unknown customer", `{"customer":{"customerId":99},"shippingAddress":{"street":"a","zip":"b","city":"c"},"billingAddress":{"street":"a","zip":"b","city":"c"},"orderLine":[{"count":1,"item":{"itemId":1}}]}`, 400},
			{"zero count", `{"customer":{"customerId":1},"shippingAddress":{"street":"a","zip":"b","city":"c"},"billingAddress":{"street":"a","zip":"b","city":"c"},"orderLine":[{"count":0,"item":{"itemId":1}}]}`, 400},
			{"malformed", `{"customer":`, 400},
		} {
			resp, err := http.Post(gw+"/order/api/orders", "application/json", strings.NewReader(bad.body))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != bad.status {
				t.Errorf("%s: status %d, want %d", bad.name, resp.StatusCode, bad.status)
			}
		}
	})

	// Straight onto the topic: the placed event of the API order once more
	// (a redelivery), an order JSON of the original service without
	// CloudEvent headers, and a poison record.
	place("records onto the topic", func(t *testing.T) {
		ensure(t, "json api")
		producer := testenv.Producer(t, brokers)
		redelivered := topicRecord(t, brokers, api.EventID)
		testenv.Produce(t, producer, &sarama.ProducerMessage{Topic: "order", Key: sarama.StringEncoder(fmt.Sprint(api.ID)),
			Value: sarama.ByteEncoder(redelivered.Value), Headers: headers(redelivered.Headers)})
		testenv.Produce(t, producer, &sarama.ProducerMessage{Topic: "order", Key: sarama.StringEncoder("900001"), Value: sarama.StringEncoder(
			`{"id":900001,"customer":{"customerId":2,"name":"Johnson","firstname":"Rod","email":"rod@somewhere.com"},"updated":1764064800000,` +
				`"shippingAddress":{"street":"Ohlauer Str. 43","zip":"10999","city":"Berlin"},"billingAddress":{"street":"Ohlauer Str. 43","zip":"10999","city":"Berlin"},` +
				`"orderLine":[{"count":4,"item":{"itemId":3,"name":"iPod nano","price":1.0}}],"numberOfLines":1,"totalPrice":4.0}`)})
		testenv.Produce(t, producer, &sarama.ProducerMessage{Topic: "order", Key: sarama.StringEncoder("poison"), Value: sarama.StringEncoder("this is not an order")})
	})

	place("cancel", func(t *testing.T) {
		ensure(t, "structured command")
		req, _ := http.NewRequest(http.MethodDelete, fmt.Sprintf("%s/order/api/orders/%d", gw, structured.ID), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("cancel: %v %v", err, resp)
		}
		resp.Body.Close()
	})

	t.Run("shipped and invoiced exactly once", func(t *testing.T) {
		ensure(t, "json api", "binary command repeated", "structured command", "html form with an added line",
			"records onto the topic", "cancel")
		ids := []int64{api.ID, binOrder.ID, structured.ID, formID, 900001}
		// Shipping keeps no email: it has no use for it.
		wolffS, johnsonS := wolff, johnson
		wolffS.Email, johnsonS.Email = "", ""
		wantShipments := map[int64]shipment{
			api.ID:        {ID: api.ID, Customer: wolffS, ShippingAddress: berlin, Lines: []shipLine{{1, "iPod", 2}, {3, "iPod nano", 3}}},
			binOrder.ID:   {ID: binOrder.ID, Customer: johnsonS, ShippingAddress: berlin, Lines: []shipLine{{4, "Apple TV", 1}}},
			structured.ID: {ID: structured.ID, Customer: wolffS, ShippingAddress: berlin, Lines: []shipLine{{2, "iPod touch", 1}}, Cancelled: true},
			formID:        {ID: formID, Customer: johnsonS, ShippingAddress: berlin, Lines: []shipLine{{1, "iPod", 1}, {2, "iPod touch", 2}}},
			900001:        {ID: 900001, Customer: johnsonS, ShippingAddress: berlin, Lines: []shipLine{{3, "iPod nano", 4}}},
		}
		wantInvoices := map[int64]invoice{
			api.ID: {ID: api.ID, Customer: wolff, BillingAddress: monheim, Total: "87.00",
				Lines: []invoiceLine{{1, "iPod", 2, "42.00", "84.00"}, {3, "iPod nano", 3, "1.00", "3.00"}}},
			binOrder.ID: {ID: binOrder.ID, Customer: johnson, BillingAddress: berlin, Total: "100.00",
				Lines: []invoiceLine{{4, "Apple TV", 1, "100.00", "100.00"}}},
			structured.ID: {ID: structured.ID, Customer: wolff, BillingAddress: monheim, Total: "21.00", Cancelled: true,
				Lines: []invoiceLine{{2, "iPod touch", 1, "21.00", "21.00"}}},
			formID: {ID: formID, Customer: johnson, BillingAddress: berlin, Total: "84.00",
				Lines: []invoiceLine{{1, "iPod", 1, "42.00", "42.00"}, {2, "iPod touch", 2, "21.00", "42.00"}}},
			900001: {ID: 900001, Customer: johnson, BillingAddress: berlin, Total: "4.00",
				Lines: []invoiceLine{{3, "iPod nano", 4, "1.00", "4.00"}}},
		}

		var shipments []shipment
		var invoices []invoice
		testenv.Eventually(t, 30*time.Second, "shipments and invoices", func() bool {
			getJSON(t, gw+"/shipping/api/shipments", &shipments)
			getJSON(t, gw+"/invoicing/api/invoices", &invoices)
			return cmp.Equal(byID(shipments), wantShipments) && cmp.Equal(byID(invoices), wantInvoices)
		})
		if diff := cmp.Diff(wantShipments, byID(shipments)); diff != "" {
			t.Errorf("shipments (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(wantInvoices, byID(invoices)); diff != "" {
			t.Errorf("invoices (-want +got):\n%s", diff)
		}
		if len(shipments) != len(ids) || len(invoices) != len(ids) {
			t.Errorf("got %d shipments and %d invoices, want %d each: something was doubled", len(shipments), len(invoices), len(ids))
		}
	})

	// The poison record reaches the dead letter topic once per sink, with
	// the reason.
	t.Run("poison to the dead letter topic", func(t *testing.T) {
		ensure(t, "records onto the topic")
		dead := testenv.Read(t, brokers, "order-dead-letter", 2, 20*time.Second)
		dests := map[string]bool{}
		for _, r := range dead {
			h := headerMap(r.Headers)
			if string(r.Value) != "this is not an order" || h["ce_type"] != "dev.knative.kafka.event" || h["ce_knativeerrorcode"] != "400" {
				t.Errorf("dead letter = %q %v", r.Value, h)
			}
			dests[h["ce_knativeerrordest"]] = true
		}
		if len(dests) != 2 {
			t.Errorf("dead letters came from %v, want one per sink", dests)
		}
	})

	// The topic holds binary-mode CloudEvents with the documented attributes.
	t.Run("record attributes", func(t *testing.T) {
		ensure(t, "json api")
		rec := topicRecord(t, brokers, api.EventID)
		h := headerMap(rec.Headers)
		want := map[string]string{"ce_specversion": "1.0", "ce_type": "com.example.order.placed", "ce_source": "/order",
			"ce_id": api.EventID, "ce_subject": fmt.Sprint(api.ID), "content-type": "application/json"}
		for k, v := range want {
			if h[k] != v {
				t.Errorf("record header %s = %q, want %q", k, h[k], v)
			}
		}
		if string(rec.Key) != fmt.Sprint(api.ID) {
			t.Errorf("record key = %q, want %d", rec.Key, api.ID)
		}
	})
}

type orderReply struct {
	ID      int64  `json:"id"`
	EventID string `json:"eventId"`
}

func byID[T interface{ key() int64 }](list []T) map[int64]T {
	m := make(map[int64]T, len(list))
	for _, v := range list {
		m[v.key()] = v
	}
	return m
}

func (s shipment) key() int64 { return s.ID }
func (i invoice) key() int64  { return i.ID }

// freshTopics recreates the topics, so records of an earlier run cannot
// reach this run's fresh database.
func freshTopics(t *testing.T, brokers []string) {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V4_0_0_0
	admin, err := sarama.NewClusterAdmin(brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	topics := map[string]int32{events.Topic: events.TopicPartitions, events.DeadLetterTopic: events.DeadLetterTopicPartitions}
	for name := range topics {
		admin.DeleteTopic(name)
	}
	for name, parts := range topics {
		testenv.Eventually(t, 30*time.Second, "create topic "+name, func() bool {
			err := admin.CreateTopic(name, &sarama.TopicDetail{NumPartitions: parts, ReplicationFactor: 1}, false)
			return err == nil
		})
	}
	for _, group := range []string{"shipping", "invoicing"} {
		admin.DeleteConsumerGroup(group)
	}
}

type reply struct {
	status int
	header map[string]string
	body   []byte
}

func postBinary(t *testing.T, target, id, body string) reply {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(body))
	req.Header.Set("Ce-Specversion", "1.0")
	req.Header.Set("Ce-Type", "com.example.order.place")
	req.Header.Set("Ce-Source", "e2e")
	req.Header.Set("Ce-Id", id)
	req.Header.Set("Content-Type", "application/json")
	return do(t, req)
}

func postStructured(t *testing.T, target, body string) orderReply {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/cloudevents+json")
	r := do(t, req)
	if r.status != 201 {
		t.Fatalf("structured command: %d %s", r.status, r.body)
	}
	var o orderReply
	if err := json.Unmarshal(r.body, &o); err != nil {
		t.Fatal(err)
	}
	return o
}

func do(t *testing.T, req *http.Request) reply {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, body: body, header: map[string]string{}}
	for k := range resp.Header {
		if strings.HasPrefix(k, "Ce-") {
			r.header[k] = resp.Header.Get(k)
		}
	}
	return r
}

func postJSON(t *testing.T, target, body string) orderReply {
	t.Helper()
	resp, err := http.Post(target, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 201 {
		t.Fatalf("POST %s: %d %s", target, resp.StatusCode, b)
	}
	var o orderReply
	if err := json.Unmarshal(b, &o); err != nil {
		t.Fatal(err)
	}
	return o
}

func postForm(t *testing.T, target string, v url.Values) int64 {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.PostForm(target, v)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("form: %d %s", resp.StatusCode, b)
	}
	var id int64
	if _, err := fmt.Sscan(resp.Header.Get("Location"), &id); err != nil {
		t.Fatalf("form redirect %q: %v", resp.Header.Get("Location"), err)
	}
	return id
}

func getJSON(t *testing.T, target string, v any) {
	t.Helper()
	resp, err := http.Get(target)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
}

func headers(h []*sarama.RecordHeader) []sarama.RecordHeader {
	out := make([]sarama.RecordHeader, len(h))
	for i, r := range h {
		out[i] = *r
	}
	return out
}

func headerMap(h []*sarama.RecordHeader) map[string]string {
	m := map[string]string{}
	for _, r := range h {
		m[string(r.Key)] = string(r.Value)
	}
	return m
}

// topicRecord finds the record of topic "order" whose ce_id is id.
func topicRecord(t *testing.T, brokers []string, id string) *sarama.ConsumerMessage {
	t.Helper()
	var found *sarama.ConsumerMessage
	testenv.Eventually(t, 10*time.Second, "record "+id+" on topic order", func() bool {
		for _, m := range testenv.ReadAll(t, brokers, "order") {
			if headerMap(m.Headers)["ce_id"] == id {
				found = m
				return true
			}
		}
		return false
	})
	return found
}

// syncBuffer collects the stack's output from several goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
