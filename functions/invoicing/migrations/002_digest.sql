-- The digest of what invoicing keeps of each event (sink.Digest), so that a
-- second event with other content under a known event id or order id is
-- refused as a conflict rather than dropped as a duplicate. Rows from
-- before this migration have none and are compared with nothing.
-- (handled_event's digest is the sink framework's: shared/sink/migrations.)
ALTER TABLE invoice ADD COLUMN digest bytea;
