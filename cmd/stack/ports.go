package main

import (
	"context"

	"github.com/mskafka/knative-functions/cmd/stack/internal/ports"
)

// checkPorts stops the stack before it starts anything if a port it needs
// is held, naming the holder: typically an earlier stack's process, which
// must not be mistaken for this run's.
func (s *stack) checkPorts(context.Context) error {
	addrs := []string{s.cfg.Gateway}
	if s.cfg.Only == "" {
		for _, name := range s.names() {
			addrs = append(addrs, s.functionAddr(name))
		}
	}
	if s.needsEmbeddedKafka() {
		addrs = append(addrs, s.cfg.EmbeddedAddr)
	}
	return ports.Free(addrs...)
}
