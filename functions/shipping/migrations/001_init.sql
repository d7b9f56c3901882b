-- Shipping keeps only what it takes to ship an order: who gets which items
-- where. Prices and the billing address belong to invoicing.

CREATE TABLE shipment (
    order_id      bigint PRIMARY KEY,
    customer_id   bigint NOT NULL,
    name          text NOT NULL,
    firstname     text NOT NULL,
    street        text NOT NULL,
    zip           text NOT NULL,
    city          text NOT NULL,
    cancelled     boolean NOT NULL DEFAULT false,
    -- The order's own time, from the events; null when they carried none.
    order_updated timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- The list shows the newest shipments first.
CREATE INDEX shipment_newest ON shipment (created_at DESC, order_id DESC);

CREATE TABLE shipment_line (
    order_id  bigint NOT NULL REFERENCES shipment ON DELETE CASCADE,
    line_no   integer NOT NULL,
    item_id   bigint NOT NULL,
    item_name text NOT NULL,
    count     integer NOT NULL CHECK (count > 0),
    PRIMARY KEY (order_id, line_no)
);

-- The events handled and the cancellations are the sink framework's
-- tables (shared/sink/migrations), in this schema too.
