-- Retention (shared/sink/retention.go) also deletes the cancellations
-- recorded longer ago than HANDLED_EVENT_RETENTION: a cancellation is kept
-- for a placed event that it overtook, and that event was on its topic
-- before the cancellation was recorded, so past the same bound it can no
-- longer arrive. This index finds them by age, as 002's does handled events.
CREATE INDEX IF NOT EXISTS cancellation_recorded_at ON cancellation (recorded_at);
