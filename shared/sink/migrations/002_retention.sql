-- Retention (shared/sink/retention.go) deletes the records of events
-- handled longer ago than HANDLED_EVENT_RETENTION, oldest first, a batch at
-- a time. The primary key (source, id) cannot find them by age, so this
-- index does: an insert on an ever-growing time, always into the rightmost
-- leaf, is the one cost it adds per event.
CREATE INDEX IF NOT EXISTS handled_event_handled_at ON handled_event (handled_at);
