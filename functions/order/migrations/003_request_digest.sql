-- A digest (SHA-256) of the order request each key arrived with, so that a
-- key reused with a different request is refused instead of being answered
-- with the first order. NULL for commands recorded before this migration:
-- their request is unknown, so a repeat is answered as before.
--
-- The table now holds every key that makes placing an order idempotent: a
-- command's CloudEvent (source, id), and, with source '', the JSON API's
-- Idempotency-Key header and the order form's one-time token. No CloudEvent
-- has an empty source, so the two kinds cannot meet.
ALTER TABLE command ADD COLUMN digest bytea;
