-- The minimal SQL's own tables (minimal.sql): primary keys only, made afresh
-- by each run.
DROP SCHEMA IF EXISTS bench_minimal CASCADE;
CREATE SCHEMA bench_minimal;
CREATE TABLE bench_minimal.orders (id bigserial PRIMARY KEY, customer_id bigint NOT NULL,
  shipping_street text NOT NULL, shipping_zip text NOT NULL, shipping_city text NOT NULL,
  billing_street text NOT NULL, billing_zip text NOT NULL, billing_city text NOT NULL,
  updated timestamptz NOT NULL DEFAULT now());
CREATE TABLE bench_minimal.order_line (order_id bigint, line_no int, item_id bigint NOT NULL,
  count int NOT NULL, price numeric(10, 2) NOT NULL, PRIMARY KEY (order_id, line_no));
CREATE TABLE bench_minimal.outbox (seq bigserial PRIMARY KEY, order_id bigint NOT NULL, type text NOT NULL,
  payload text NOT NULL, sent_at timestamptz);
CREATE TABLE bench_minimal.shipping_handled (source text, id bigint, PRIMARY KEY (source, id));
CREATE TABLE bench_minimal.shipment (order_id bigint PRIMARY KEY, customer_id bigint NOT NULL, name text NOT NULL,
  firstname text NOT NULL, street text NOT NULL, zip text NOT NULL, city text NOT NULL);
CREATE TABLE bench_minimal.shipment_line (order_id bigint, line_no int, item_id bigint NOT NULL,
  item_name text NOT NULL, count int NOT NULL, PRIMARY KEY (order_id, line_no));
CREATE TABLE bench_minimal.invoicing_handled (source text, id bigint, PRIMARY KEY (source, id));
CREATE TABLE bench_minimal.invoice (order_id bigint PRIMARY KEY, customer_id bigint NOT NULL, name text NOT NULL,
  firstname text NOT NULL, email text NOT NULL, street text NOT NULL, zip text NOT NULL, city text NOT NULL,
  total numeric(12, 2) NOT NULL);
CREATE TABLE bench_minimal.invoice_line (order_id bigint, line_no int, item_id bigint NOT NULL, item_name text NOT NULL,
  count int NOT NULL, price numeric(10, 2) NOT NULL, line_total numeric(12, 2) NOT NULL, PRIMARY KEY (order_id, line_no));
-- The plain one-INSERT commit rate's.
CREATE TABLE bench_minimal.plain_commit (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now());
