package systest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"

	"github.com/mskafka/knative-functions/shared/testenv"
)

// platformPorts are the platform page test's own ports.
const platformPorts = 23800

// platformState is what the test reads of /platform/api/state.
type platformState struct {
	Functions []struct {
		Name         string  `json:"name"`
		State        string  `json:"state"`
		ColdStartsMs []int64 `json:"coldStartsMs"`
	} `json:"functions"`
	Sources []struct {
		Name          string `json:"name"`
		ConsumerGroup string `json:"consumerGroup"`
		Partitions    []struct {
			Topic     string `json:"topic"`
			Partition int32  `json:"partition"`
			Committed int64  `json:"committed"`
			End       int64  `json:"end"`
			Lag       int64  `json:"lag"`
		} `json:"partitions"`
		Lag          *int64 `json:"lag"`
		DeadLettered int64  `json:"deadLettered"`
		LastFailure  *struct {
			Status int    `json:"status"`
			Reason string `json:"reason"`
		} `json:"lastFailure"`
	} `json:"kafkaSources"`
	Outbox *struct {
		Unsent int64 `json:"unsent"`
	} `json:"outbox"`
	Problems []string `json:"problems"`
}

// TestPlatformPage opens /platform/ in Chromium on a stack with a 2 s idle
// period and watches it: shipping goes to zero while the page is open (so
// watching keeps nothing warm), an order wakes it and the page shows the
// cold start, a record both sinks refuse shows as dead-lettered with the
// sink's status and reason, and the lag and committed offsets the page
// shows are the consumer groups' offsets as Kafka reports them. With
// UPDATE_DOCS=1 it also replaces docs/platform.png.
func TestPlatformPage(t *testing.T) {
	brokers := testenv.KafkaBrokers(t)
	chrome := testenv.Chromium(t)
	dbURL := testenv.Database(t, "stack")
	freshTopics(t, brokers)
	st := startStack(t, dbURL, strings.Join(brokers, ","), platformPorts, "SCALE_TO_ZERO_IDLE=2s")
	gw := st.gateway
	b := newBrowserIn(t, chrome, gw, repoRoot+"/artifacts/screenshots-platform")
	defer b.finish()
	step := func(name string, f func(t *testing.T)) bool { return b.step(t, name, f) }
	state := func(t *testing.T) platformState {
		t.Helper()
		var s platformState
		if err := json.Unmarshal([]byte(get(t, gw+"/platform/api/state")), &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	fnState := `(name) => document.querySelector('#functions tr[data-function="' + name + '"] [data-state]').dataset.state`

	ok := step("shipping seen going to zero with the page open", func(t *testing.T) {
		b.open(gw + "/platform/")
		b.checkPage()
		b.waitJS(`(`+fnState+`)("shipping") === "zero" && (`+fnState+`)("invoicing") === "zero"`, "shipping and invoicing at zero on the page")
		s, err := st.State()
		if err != nil || s.Functions["shipping"].PID != 0 {
			t.Errorf("the stack's state: shipping PID %d (%v), want 0 as the page shows", s.Functions["shipping"].PID, err)
		}
		if cold := b.text(`#functions tr[data-function="shipping"] .cold`); !strings.Contains(cold, "none yet") {
			t.Errorf("shipping's cold starts before any wake: %q", cold)
		}
	})
	if !ok {
		t.FailNow()
	}
	step("an order wakes shipping and the page shows the cold start", func(t *testing.T) {
		id := postJSON(t, gw+"/order/api/orders", orderJSON(1, 1)).ID
		b.waitJS(`document.querySelector('#functions tr[data-function="shipping"] .cold').textContent.includes(" ms")`, "shipping's cold start on the page")
		var ms int64
		cell := strings.TrimSpace(b.text(`#functions tr[data-function="shipping"] .cold`))
		if _, err := fmt.Sscanf(cell, "%d ms", &ms); err != nil || ms <= 0 {
			t.Errorf("shipping's cold starts %q, want one in ms", cell)
		}
		for _, f := range state(t).Functions {
			if f.Name == "shipping" && (len(f.ColdStartsMs) != 1 || f.ColdStartsMs[0] != ms) {
				t.Errorf("JSON cold starts %v, the page %d ms", f.ColdStartsMs, ms)
			}
		}
		testenv.Eventually(t, 20*time.Second, "the order's shipment", func() bool { return exists(fmt.Sprintf("%s/shipping/api/shipments/%d", gw, id)) })
	})
	step("a record the sinks refuse shows as dead-lettered with its reason", func(t *testing.T) {
		testenv.Produce(t, testenv.Producer(t, brokers), &sarama.ProducerMessage{Topic: "order", Key: sarama.StringEncoder("poison"),
			Value: sarama.StringEncoder("this is not an order")})
		sel := `section[data-source="order-to-shipping"]`
		b.waitJS(`document.querySelector('`+sel+` .dead-lettered').textContent === "1"`, "a dead letter of order-to-shipping on the page")
		if got := b.text(sel + ` .status`); got != "400" {
			t.Errorf("last failure status %q, want 400", got)
		}
		reason := b.text(sel + ` .reason`)
		if reason == "" {
			t.Error("last failure without the sink's reason")
		}
		for _, src := range state(t).Sources {
			if src.Name == "order-to-shipping" && (src.DeadLettered != 1 || src.LastFailure == nil || src.LastFailure.Status != 400 || src.LastFailure.Reason != reason) {
				t.Errorf("JSON of %s: dead-lettered %d, last failure %+v; the page says 400 %q", src.Name, src.DeadLettered, src.LastFailure, reason)
			}
		}
		b.shot("platform")
	})
	step("the lag is Kafka's", func(t *testing.T) {
		admin, err := sarama.NewClusterAdmin(brokers, testenv.KafkaConfig())
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close()
		client, err := sarama.NewClient(brokers, testenv.KafkaConfig())
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		// Kafka's view: committed offsets and end offsets per partition, read
		// when the pipeline is at rest (each source has committed all it has).
		type part struct {
			Partition           int32
			Committed, End, Lag int64
		}
		var diff string
		testenv.Eventually(t, 20*time.Second, "the page's offsets to be Kafka's", func() bool {
			diff = ""
			for _, src := range state(t).Sources {
				var page, kafka []part
				for _, p := range src.Partitions {
					page = append(page, part{p.Partition, p.Committed, p.End, p.Lag})
				}
				parts, err := client.Partitions("order")
				if err != nil {
					t.Fatal(err)
				}
				offs, err := admin.ListConsumerGroupOffsets(src.ConsumerGroup, map[string][]int32{"order": parts})
				if err != nil {
					t.Fatal(err)
				}
				var lag int64
				for _, p := range parts {
					end, err := client.GetOffset("order", p, sarama.OffsetNewest)
					if err != nil {
						t.Fatal(err)
					}
					c := int64(-1)
					if blk := offs.GetBlock("order", p); blk != nil {
						c = blk.Offset
					}
					l := end - max(c, 0)
					lag += l
					kafka = append(kafka, part{p, c, end, l})
				}
				if d := cmp.Diff(kafka, page); d != "" || src.Lag == nil || *src.Lag != lag {
					diff += fmt.Sprintf("%s (-kafka +page):\n%s", src.Name, d)
				}
				if lag != 0 {
					diff += fmt.Sprintf("%s: lag %d, want 0 at rest\n", src.Name, lag)
				}
			}
			return diff == ""
		})
		if diff != "" {
			t.Error(diff)
		}
	})
	step("no secret on the page", func(t *testing.T) {
		for _, body := range []string{get(t, gw+"/platform/"), get(t, gw+"/platform/api/state")} {
			if strings.Contains(body, dbURL) || strings.Contains(strings.ToLower(body), "password") {
				t.Error("the page shows the database URL or a password")
			}
		}
	})
	if os.Getenv("UPDATE_DOCS") != "" {
		png := result(b, chromedp.Screenshot(chromedp.CSS("main")))
		if err := os.WriteFile(filepath.Join(repoRoot, "docs", "platform.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
