-- The sink framework's own tables, in each sink's schema. Until this
-- migration each sink's first migrations created them: on such a schema
-- they exist already and every statement here is a no-op.

-- Every event applied here, recorded in the same transaction as its change:
-- delivery is at-least-once, and the primary key makes a redelivery a no-op.
-- digest is what the sink keeps of the event (Digest), so that a second
-- event with other content under a known id is refused as a conflict rather
-- than dropped as a duplicate; rows from before digests have none.
CREATE TABLE IF NOT EXISTS handled_event (
    source     text NOT NULL,
    id         text NOT NULL,
    type       text NOT NULL,
    handled_at timestamptz NOT NULL DEFAULT now(),
    digest     bytea,
    PRIMARY KEY (source, id)
);

-- Cancellations by order id, kept even when the order is not here (yet):
-- a cancellation may overtake its order (another partition, a replay, a
-- plain record), and the record must still end up cancelled when it arrives.
CREATE TABLE IF NOT EXISTS cancellation (
    order_id    bigint PRIMARY KEY,
    -- The cancellation's time, from the event; null when it carried none.
    updated     timestamptz,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
