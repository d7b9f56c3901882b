-- The minimal SQL of one order, the fixed yardstick `make bench` compares the
-- pipeline with: what a naive implementation must do at the least, on tables
-- of its own with no index beyond the primary keys. Every statement is its
-- own round trip (pgbench's simple protocol) and every transaction its own
-- commit: the order with its line and outbox row; the outbox sent-mark; the
-- shipment with its line and handled-event row; the same for the invoice.
-- It does not follow the code: when the code changes, this stays.
\set cust random(1, 2)
\set item random(1, 4)
\set count random(1, 3)
BEGIN;
INSERT INTO bench_minimal.orders (customer_id, shipping_street, shipping_zip, shipping_city, billing_street, billing_zip, billing_city)
  VALUES (:cust, 'Ohlauer Str. 43', '10999', 'Berlin', 'Ohlauer Str. 43', '10999', 'Berlin') RETURNING id AS order_id \gset
INSERT INTO bench_minimal.order_line (order_id, line_no, item_id, count, price) VALUES (:order_id, 1, :item, :count, 42.00);
INSERT INTO bench_minimal.outbox (order_id, type, payload)
  VALUES (:order_id, 'com.example.order.placed', '{"id":1,"customer":{"customerId":1,"name":"Wolff","firstname":"Eberhard","email":"eberhard.wolff@gmail.com"},"updated":"2026-11-25T10:00:00Z","shippingAddress":{"street":"Ohlauer Str. 43","zip":"10999","city":"Berlin"},"billingAddress":{"street":"Ohlauer Str. 43","zip":"10999","city":"Berlin"},"orderLine":[{"count":2,"item":{"itemId":1,"name":"iPod","price":42}}],"numberOfLines":1}')
  RETURNING seq \gset
COMMIT;
UPDATE bench_minimal.outbox SET sent_at = now() WHERE seq = :seq;
BEGIN;
INSERT INTO bench_minimal.shipping_handled (source, id) VALUES ('/order', :seq);
INSERT INTO bench_minimal.shipment (order_id, customer_id, name, firstname, street, zip, city)
  VALUES (:order_id, :cust, 'Wolff', 'Eberhard', 'Ohlauer Str. 43', '10999', 'Berlin');
INSERT INTO bench_minimal.shipment_line (order_id, line_no, item_id, item_name, count) VALUES (:order_id, 1, :item, 'iPod', :count);
COMMIT;
BEGIN;
INSERT INTO bench_minimal.invoicing_handled (source, id) VALUES ('/order', :seq);
INSERT INTO bench_minimal.invoice (order_id, customer_id, name, firstname, email, street, zip, city, total)
  VALUES (:order_id, :cust, 'Wolff', 'Eberhard', 'eberhard.wolff@gmail.com', 'Ohlauer Str. 43', '10999', 'Berlin', 42.00 * :count);
INSERT INTO bench_minimal.invoice_line (order_id, line_no, item_id, item_name, count, price, line_total)
  VALUES (:order_id, 1, :item, 'iPod', :count, 42.00, 42.00 * :count);
COMMIT;
