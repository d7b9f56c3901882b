package events

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The topics and their partitions here are those the cluster's manifest
// declares and the local Kafka creates.
func TestTopicsMatchInfra(t *testing.T) {
	want := map[string]int{Topic: TopicPartitions, DeadLetterTopic: DeadLetterTopicPartitions}

	manifest, err := os.ReadFile("../../infra/kafka/topics.yaml")
	if err != nil {
		t.Fatal(err)
	}
	fromManifest := map[string]int{}
	field := func(doc, name string) string {
		m := regexp.MustCompile(`(?m)^\s+` + name + `: (\S+)`).FindStringSubmatch(doc)
		if m == nil {
			return ""
		}
		return m[1]
	}
	for doc := range strings.SplitSeq(string(manifest), "\n---\n") {
		var n int
		fmt.Sscan(field(doc, "partitions"), &n)
		fromManifest[field(doc, "name")] = n
	}
	if diff := cmp.Diff(want, fromManifest); diff != "" {
		t.Errorf("infra/kafka/topics.yaml (-want +got):\n%s", diff)
	}

	script, err := os.ReadFile("../../infra/local/kafka.sh")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^TOPICS=\((.*)\)`).FindSubmatch(script)
	if m == nil {
		t.Fatal("infra/local/kafka.sh has no TOPICS=(…) line")
	}
	fromScript := map[string]int{}
	for _, pair := range strings.Fields(string(m[1])) {
		name, parts, _ := strings.Cut(pair, ":")
		var n int
		fmt.Sscan(parts, &n)
		fromScript[name] = n
	}
	if diff := cmp.Diff(want, fromScript); diff != "" {
		t.Errorf("infra/local/kafka.sh TOPICS (-want +got):\n%s", diff)
	}
}
