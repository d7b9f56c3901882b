-- Invoicing keeps only what it takes to bill an order: whom, where, for what.
-- Amounts are numeric(12,2), exact; the Go side holds them as integer cents.

CREATE TABLE invoice (
    order_id      bigint PRIMARY KEY,
    customer_id   bigint NOT NULL,
    name          text NOT NULL,
    firstname     text NOT NULL,
    email         text NOT NULL,
    street        text NOT NULL,
    zip           text NOT NULL,
    city          text NOT NULL,
    -- The sum of the line totals, computed when the invoice is made.
    total         numeric(12,2) NOT NULL CHECK (total >= 0),
    -- A cancelled order's invoice is void.
    cancelled     boolean NOT NULL DEFAULT false,
    -- The order's own time, from the events; null when they carried none.
    order_updated timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- The list shows the newest invoices first.
CREATE INDEX invoice_newest ON invoice (created_at DESC, order_id DESC);

CREATE TABLE invoice_line (
    order_id   bigint NOT NULL REFERENCES invoice ON DELETE CASCADE,
    line_no    integer NOT NULL,
    item_id    bigint NOT NULL,
    item_name  text NOT NULL,
    count      integer NOT NULL CHECK (count > 0),
    price      numeric(12,2) NOT NULL CHECK (price >= 0),
    line_total numeric(12,2) NOT NULL CHECK (line_total = price * count),
    PRIMARY KEY (order_id, line_no)
);

-- The events handled and the cancellations are the sink framework's
-- tables (shared/sink/migrations), in this schema too.
