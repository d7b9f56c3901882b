-- Retention (functions/order/retention.go) deletes the keys older than
-- IDEMPOTENCY_KEY_RETENTION, oldest first, a batch at a time. The primary
-- key (source, id) cannot find them by age, so this index does: an insert on
-- an ever-growing time, always into the rightmost leaf, is the one cost it
-- adds per order. The sent outbox rows need no index: their seq is the
-- outbox's primary key and grows with time.
CREATE INDEX command_received ON command (received);
