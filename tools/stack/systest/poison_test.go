package systest

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/mskafka/knative-functions/shared/testenv"
)

// TestPoisonRecordEndToEnd puts one record that can never be stored first
// on a partition of the real Kafka, then 100 orders on the same partition:
// all 100 reach both sinks within seconds, and the bad record is
// dead-lettered once per sink with its reason. Its "updated" (epoch
// milliseconds 1e16, year 318857) was once taken to Postgres, refused as
// out of range, answered 500 and retried for the whole backoff, about
// 17 minutes, while the orders behind it waited.
func TestPoisonRecordEndToEnd(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	freshTopics(t, brokers)
	gw := startStack(t, testenv.Database(t, "stack"), strings.Join(brokers, ","), 23280).gateway

	const orders, firstID = 100, 700000
	p := testenv.Producer(t, brokers)
	key := sarama.StringEncoder("poison") // one key: one partition, in order
	testenv.Produce(t, p, &sarama.ProducerMessage{Topic: "order", Key: key,
		Value: sarama.StringEncoder(plainOrder(firstID, "10000000000000000"))})
	start := time.Now()
	for id := firstID + 1; id <= firstID+orders; id++ {
		testenv.Produce(t, p, &sarama.ProducerMessage{Topic: "order", Key: key,
			Value: sarama.StringEncoder(plainOrder(id, "1795600800000"))})
	}

	t.Run("the orders behind it are stored within seconds", func(t *testing.T) {
		for _, api := range []string{"/shipping/api/shipments", "/invoicing/api/invoices"} {
			testenv.Eventually(t, 30*time.Second, fmt.Sprintf("%d records at %s", orders, api), func() bool {
				return countAll(t, gw+api) == orders
			})
		}
		if took := time.Since(start); took > 20*time.Second {
			t.Errorf("the orders took %v to reach both sinks", took)
		}
	})

	t.Run("the bad record is dead-lettered with its reason", func(t *testing.T) {
		dead := testenv.Read(t, brokers, "order-dead-letter", 2, 20*time.Second)
		dests := map[string]bool{}
		for _, r := range dead {
			h := headerMap(r.Headers)
			reason, _ := base64.StdEncoding.DecodeString(h["ce_knativeerrordata"]) // as Knative sends it
			if !strings.Contains(string(r.Value), `"id":700000`) || h["ce_knativeerrorcode"] != "400" ||
				!strings.Contains(string(reason), "years 1970 to 2999") {
				t.Errorf("dead letter %.40s…: code %q, reason %q; want 400 saying the time is outside the years",
					r.Value, h["ce_knativeerrorcode"], reason)
			}
			dests[h["ce_knativeerrordest"]] = true
		}
		if len(dead) != 2 || len(dests) != 2 {
			t.Errorf("%d dead letters from %v, want one per sink", len(dead), dests)
		}
	})
}

// plainOrder is an order as the original Spring Boot service writes it to
// the topic: no CloudEvent headers, updated in epoch milliseconds.
func plainOrder(id int, updated string) string {
	return fmt.Sprintf(`{"id":%d,"customer":{"customerId":1,"name":"Wolff","firstname":"Eberhard","email":"eberhard.wolff@gmail.com"},
		"updated":%s,"shippingAddress":{"street":"Ohlauer Str. 43","zip":"10999","city":"Berlin"},
		"billingAddress":{"street":"Krischerstr. 100","zip":"40789","city":"Monheim am Rhein"},
		"orderLine":[{"count":1,"item":{"itemId":1,"name":"iPod","price":42.0}}],"numberOfLines":1}`, id, updated)
}

// countAll counts the records of a sink's list over all its pages,
// following the Link to the next one.
func countAll(t *testing.T, list string) int {
	n := 0
	for next := list; next != ""; {
		resp, err := http.Get(next)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		var page []map[string]any
		getJSON(t, next, &page)
		n += len(page)
		next = ""
		if link := resp.Header.Get("Link"); link != "" {
			next = list + strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`)
		}
	}
	return n
}
