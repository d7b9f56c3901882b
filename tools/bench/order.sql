-- One order as the pipeline's code issues it, statement by statement, each
-- statement its own round trip (pgbench's simple protocol): the bound that
-- `make bench` compares the whole pipeline with. Keep it in step with
-- functions/order/store.go, functions/order/outbox.go, shared/sink/once.go
-- and the sinks' store.go: the same transactions, statements and rows.
\set cust random(1, 2)
\set item random(1, 4)
\set count random(1, 3)
-- order: BEGIN with the catalogue look-ups and the order id; then the order,
-- its lines, its outbox row (and a command's link) in one statement, COMMIT
BEGIN;
SELECT id, name, firstname, email FROM orders.customer WHERE id = :cust;
SELECT id, name, (price * 100)::bigint FROM orders.item WHERE id = ANY(ARRAY[:item]::bigint[]);
SELECT nextval(pg_get_serial_sequence('orders.orders', 'id')) AS order_id, now() \gset
WITH o AS (
  INSERT INTO orders.orders (id, customer_id, shipping_street, shipping_zip, shipping_city, billing_street, billing_zip, billing_city)
  VALUES (:order_id, :cust, 'Ohlauer Str. 43', '10999', 'Berlin', 'Ohlauer Str. 43', '10999', 'Berlin') RETURNING id
), l AS (
  INSERT INTO orders.order_line (order_id, line_no, item_id, count, price)
  SELECT o.id, l.line_no, l.item_id, l.count, l.price
  FROM o, unnest(ARRAY[:item]::bigint[], ARRAY[:count]::integer[], ARRAY[42.00]::numeric[]) WITH ORDINALITY AS l(item_id, count, price, line_no)
), c AS (
  UPDATE orders.command SET order_id = o.id FROM o WHERE source = NULL AND command.id = NULL
)
INSERT INTO orders.outbox (id, order_id, type, payload, traceparent, tracestate)
SELECT gen_random_uuid(), o.id, 'com.example.order.placed', convert_to('{"id":1,"customer":{"customerId":1,"name":"Wolff","firstname":"Eberhard","email":"eberhard.wolff@gmail.com"},"updated":"2026-11-25T10:00:00Z","shippingAddress":{"street":"Ohlauer Str. 43","zip":"10999","city":"Berlin"},"billingAddress":{"street":"Ohlauer Str. 43","zip":"10999","city":"Berlin"},"orderLine":[{"count":2,"item":{"itemId":1,"name":"iPod","price":42}}],"numberOfLines":1}', 'UTF8'), NULL, NULL FROM o
RETURNING seq \gset
COMMIT;
-- the relay: mark the row sent once Kafka has it
UPDATE orders.outbox SET sent_at = now() WHERE seq = :seq;
-- shipping: the order lock and one statement (event record with its digest,
-- shipment with its digest and any cancellation that overtook it, lines),
-- which the code sends in one batch: one implicit transaction
BEGIN;
SELECT pg_advisory_xact_lock(hashtext('shipping'), hashtext(:order_id::text));
WITH held AS (
  SELECT EXISTS (SELECT FROM shipping.handled_event WHERE source = '/order' AND id = ('ev-' || :seq)) AS event_held,
    (SELECT digest FROM shipping.handled_event WHERE source = '/order' AND id = ('ev-' || :seq)) AS event_digest,
    EXISTS (SELECT FROM shipping.shipment WHERE order_id = :order_id) AS record_held,
    (SELECT digest FROM shipping.shipment WHERE order_id = :order_id) AS record_digest
), ev AS (
  INSERT INTO shipping.handled_event (source, id, type, digest)
  SELECT '/order', ('ev-' || :seq), 'com.example.order.placed', '\x0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'::bytea FROM held
  WHERE NOT (held.record_held AND held.record_digest IS NOT NULL AND held.record_digest <> '\x0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'::bytea)
  ON CONFLICT (source, id) DO NOTHING RETURNING 1
), rec AS (
  INSERT INTO shipping.shipment (order_id, customer_id, name, firstname, street, zip, city, digest, cancelled, order_updated)
  SELECT :order_id, :cust, 'Wolff', 'Eberhard', 'Ohlauer Str. 43', '10999', 'Berlin', '\x0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'::bytea, EXISTS (SELECT FROM shipping.cancellation c WHERE c.order_id = :order_id),
    greatest(now(), (SELECT updated FROM shipping.cancellation c WHERE c.order_id = :order_id))
  FROM ev ON CONFLICT (order_id) DO NOTHING RETURNING order_id
), lines AS (
  INSERT INTO shipping.shipment_line (order_id, line_no, item_id, item_name, count)
  SELECT rec.order_id, l.line_no, l.item_id, l.item_name, l.count
  FROM rec, unnest(ARRAY[:item]::bigint[], ARRAY['iPod']::text[], ARRAY[:count]::integer[]) WITH ORDINALITY AS l(item_id, item_name, count, line_no)
)
SELECT held.event_held, held.event_digest, held.record_held, held.record_digest,
  EXISTS (SELECT FROM ev), EXISTS (SELECT FROM rec)
FROM held;
COMMIT;
-- invoicing: the same with prices
BEGIN;
SELECT pg_advisory_xact_lock(hashtext('invoicing'), hashtext(:order_id::text));
WITH held AS (
  SELECT EXISTS (SELECT FROM invoicing.handled_event WHERE source = '/order' AND id = ('ev-' || :seq)) AS event_held,
    (SELECT digest FROM invoicing.handled_event WHERE source = '/order' AND id = ('ev-' || :seq)) AS event_digest,
    EXISTS (SELECT FROM invoicing.invoice WHERE order_id = :order_id) AS record_held,
    (SELECT digest FROM invoicing.invoice WHERE order_id = :order_id) AS record_digest
), ev AS (
  INSERT INTO invoicing.handled_event (source, id, type, digest)
  SELECT '/order', ('ev-' || :seq), 'com.example.order.placed', '\x0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'::bytea FROM held
  WHERE NOT (held.record_held AND held.record_digest IS NOT NULL AND held.record_digest <> '\x0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'::bytea)
  ON CONFLICT (source, id) DO NOTHING RETURNING 1
), rec AS (
  INSERT INTO invoicing.invoice (order_id, customer_id, name, firstname, email, street, zip, city, total, digest, cancelled, order_updated)
  SELECT :order_id, :cust, 'Wolff', 'Eberhard', 'eberhard.wolff@gmail.com', 'Ohlauer Str. 43', '10999', 'Berlin', 42.00 * :count, '\x0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'::bytea, EXISTS (SELECT FROM invoicing.cancellation c WHERE c.order_id = :order_id),
    greatest(now(), (SELECT updated FROM invoicing.cancellation c WHERE c.order_id = :order_id))
  FROM ev ON CONFLICT (order_id) DO NOTHING RETURNING order_id
), lines AS (
  INSERT INTO invoicing.invoice_line (order_id, line_no, item_id, item_name, count, price, line_total)
  SELECT rec.order_id, l.line_no, l.item_id, l.item_name, l.count, l.price, l.line_total
  FROM rec, unnest(ARRAY[:item]::bigint[], ARRAY['iPod']::text[], ARRAY[:count]::integer[], ARRAY[42.00]::numeric[], ARRAY[42.00 * :count]::numeric[]) WITH ORDINALITY AS l(item_id, item_name, count, price, line_total, line_no)
)
SELECT held.event_held, held.event_digest, held.record_held, held.record_digest,
  EXISTS (SELECT FROM ev), EXISTS (SELECT FROM rec)
FROM held;
COMMIT;
