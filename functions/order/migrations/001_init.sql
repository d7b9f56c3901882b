-- The order function's own schema: catalogue, orders, commands seen, outbox.

CREATE TABLE customer (
    id        bigint PRIMARY KEY,
    name      text NOT NULL,
    firstname text NOT NULL,
    email     text NOT NULL
);

CREATE TABLE item (
    id    bigint PRIMARY KEY,
    name  text NOT NULL,
    price numeric(12,2) NOT NULL CHECK (price >= 0)
);

-- Seed data of the original; in a migration, so it is inserted exactly once.
INSERT INTO customer (id, name, firstname, email) VALUES
    (1, 'Wolff', 'Eberhard', 'eberhard.wolff@gmail.com'),
    (2, 'Johnson', 'Rod', 'rod@somewhere.com');
INSERT INTO item (id, name, price) VALUES
    (1, 'iPod', 42.00),
    (2, 'iPod touch', 21.00),
    (3, 'iPod nano', 1.00),
    (4, 'Apple TV', 100.00);

CREATE TABLE orders (
    id               bigserial PRIMARY KEY,
    customer_id      bigint NOT NULL REFERENCES customer,
    shipping_street  text NOT NULL,
    shipping_zip     text NOT NULL,
    shipping_city    text NOT NULL,
    billing_street   text NOT NULL,
    billing_zip      text NOT NULL,
    billing_city     text NOT NULL,
    status           text NOT NULL DEFAULT 'placed' CHECK (status IN ('placed', 'cancelled')),
    created          timestamptz NOT NULL DEFAULT now(),
    updated          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_created ON orders (created DESC, id DESC);

CREATE TABLE order_line (
    order_id bigint NOT NULL REFERENCES orders ON DELETE CASCADE,
    line_no  int NOT NULL,
    item_id  bigint NOT NULL REFERENCES item,
    count    int NOT NULL CHECK (count > 0),
    -- The price at the time of the order: a later price change must not
    -- change an order already placed.
    price    numeric(12,2) NOT NULL,
    PRIMARY KEY (order_id, line_no)
);

-- Commands (com.example.order.place) already executed, by CloudEvent
-- (source, id): a command POSTed again returns the first result.
CREATE TABLE command (
    source   text NOT NULL,
    id       text NOT NULL,
    order_id bigint REFERENCES orders,
    received timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, id)
);

-- The transactional outbox: a row is written in the same transaction as the
-- change it announces, and sent to Kafka after the commit.
CREATE TABLE outbox (
    seq      bigserial PRIMARY KEY,
    id       uuid NOT NULL UNIQUE,
    order_id bigint NOT NULL REFERENCES orders,
    type     text NOT NULL,
    payload  bytea NOT NULL,
    created  timestamptz NOT NULL DEFAULT now(),
    sent_at  timestamptz
);
CREATE INDEX outbox_unsent ON outbox (seq) WHERE sent_at IS NULL;
CREATE INDEX outbox_order ON outbox (order_id);
