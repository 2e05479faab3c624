-- The admin's history listings (GET /v1/admin/{settlements,slashings,ledger,orders}) filter by
-- order and by time, newest first.
--
-- The ledger's entries of one order: the index 0005 dropped from the hot path comes back for
-- this query, keyed (order_id, seq) so one order's page is an index range. It costs one index
-- entry per ledger row that names an order (escrow, payment, fee, refund, slash...).
CREATE INDEX ledger_entries_order_idx ON ledger_entries (order_id, seq) WHERE order_id IS NOT NULL;

-- Time ranges: rows are appended in time order (the engine's clock never goes back), so a BRIN
-- index (a min/max per block range, a few pages for millions of rows, almost free to keep up)
-- finds the blocks of a time window.
CREATE INDEX ledger_entries_at_brin ON ledger_entries USING brin (at_ms);
CREATE INDEX settlements_at_brin ON settlements USING brin (at_ms);
CREATE INDEX slashings_at_brin ON slashings USING brin (at_ms);
CREATE INDEX orders_placed_brin ON orders USING brin (placed_at_ms);
