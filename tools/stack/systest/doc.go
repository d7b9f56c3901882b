// Package systest holds the system tests: each starts the whole local
// stack (bin/stack, as `make run` does) against the real Postgres and Kafka
// that testenv names, on its own ports in 23100-23999, and checks it from
// the outside — HTTP, Kafka records, the database, Jaeger, a browser.
//
// Tests on a private Kafka or Postgres can run side by side; those on the
// shared Kafka recreate its topics "order" and "order-dead-letter" and so
// run one at a time (they do not call t.Parallel).
package systest
