-- The trace context of the request that wrote an outbox row (W3C
-- traceparent and tracestate), so that the relay, which sends the row after
-- the commit, continues that request's trace. NULL when it had none.
ALTER TABLE outbox ADD COLUMN traceparent text, ADD COLUMN tracestate text;
