-- One order as the pipeline's code issues it, statement by statement, each
-- statement its own round trip (pgbench's simple protocol): the bound that
-- `make bench` compares the whole pipeline with. Keep it in step with
-- functions/order/store.go, functions/order/outbox.go, shared/sink/once.go
-- and the sinks' store.go: the same transactions, statements and rows.
\set cust random(1, 2)
\set item random(1, 4)
\set count random(1, 3)
-- order: catalogue look-ups, order, line, outbox row, in one transaction
BEGIN;
SELECT id, name, firstname, email FROM orders.customer WHERE id = :cust;
SELECT id, name, (price * 100)::bigint FROM orders.item WHERE id = ANY(ARRAY[:item]::bigint[]);
INSERT INTO orders.orders (customer_id, shipping_street, shipping_zip, shipping_city, billing_street, billing_zip, billing_city)
  VALUES (:cust, 'Ohlauer Str. 43', '10999', 'Berlin', 'Ohlauer Str. 43', '10999', 'Berlin') RETURNING id AS order_id, created \gset
INSERT INTO orders.order_line (order_id, line_no, item_id, count, price) VALUES (:order_id, 1, :item, :count, 42.00);
INSERT INTO orders.outbox (id, order_id, type, payload, traceparent, tracestate)
  VALUES (gen_random_uuid(), :order_id, 'com.example.order.placed', convert_to('{"id":1,"customer":{"customerId":1,"name":"Wolff","firstname":"Eberhard","email":"eberhard.wolff@gmail.com"},"updated":"2026-11-25T10:00:00Z","shippingAddress":{"street":"Ohlauer Str. 43","zip":"10999","city":"Berlin"},"billingAddress":{"street":"Ohlauer Str. 43","zip":"10999","city":"Berlin"},"orderLine":[{"count":2,"item":{"itemId":1,"name":"iPod","price":42}}],"numberOfLines":1}', 'UTF8'), NULL, NULL)
  RETURNING seq \gset
COMMIT;
-- the relay: mark the row sent once Kafka has it
UPDATE orders.outbox SET sent_at = now() WHERE seq = :seq;
-- shipping: the order lock, the event record with its digest, shipment and
-- line, then the digest and any cancellation that overtook the order
BEGIN;
SELECT pg_advisory_xact_lock(hashtext('shipping'), hashtext(:order_id::text));
INSERT INTO shipping.handled_event (source, id, type, digest) VALUES ('/order', gen_random_uuid()::text, 'com.example.order.placed', '\x0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef') ON CONFLICT (source, id) DO NOTHING;
INSERT INTO shipping.shipment (order_id, customer_id, name, firstname, street, zip, city, order_updated)
  VALUES (:order_id, :cust, 'Wolff', 'Eberhard', 'Ohlauer Str. 43', '10999', 'Berlin', now())
  ON CONFLICT (order_id) DO NOTHING;
INSERT INTO shipping.shipment_line (order_id, line_no, item_id, item_name, count) VALUES (:order_id, 1, :item, 'iPod', :count);
UPDATE shipping.shipment r SET digest = '\x0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',
    cancelled = EXISTS (SELECT FROM shipping.cancellation c WHERE c.order_id = :order_id),
    order_updated = greatest(r.order_updated, (SELECT updated FROM shipping.cancellation c WHERE c.order_id = :order_id))
  WHERE r.order_id = :order_id;
COMMIT;
-- invoicing: the same with prices
BEGIN;
SELECT pg_advisory_xact_lock(hashtext('invoicing'), hashtext(:order_id::text));
INSERT INTO invoicing.handled_event (source, id, type, digest) VALUES ('/order', gen_random_uuid()::text, 'com.example.order.placed', '\x0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef') ON CONFLICT (source, id) DO NOTHING;
INSERT INTO invoicing.invoice (order_id, customer_id, name, firstname, email, street, zip, city, total, order_updated)
  VALUES (:order_id, :cust, 'Wolff', 'Eberhard', 'eberhard.wolff@gmail.com', 'Ohlauer Str. 43', '10999', 'Berlin', 42.00 * :count, now())
  ON CONFLICT (order_id) DO NOTHING;
INSERT INTO invoicing.invoice_line (order_id, line_no, item_id, item_name, count, price, line_total) VALUES (:order_id, 1, :item, 'iPod', :count, 42.00, 42.00 * :count);
UPDATE invoicing.invoice r SET digest = '\x0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',
    cancelled = EXISTS (SELECT FROM invoicing.cancellation c WHERE c.order_id = :order_id),
    order_updated = greatest(r.order_updated, (SELECT updated FROM invoicing.cancellation c WHERE c.order_id = :order_id))
  WHERE r.order_id = :order_id;
COMMIT;
