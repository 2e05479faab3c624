-- A journal batch's event log compressed with lz4 (issue #18; loadtest/REPORT.md, session 19).
-- 0018 stored it out of line uncompressed because pglz cost the backend more CPU than it saved.
-- lz4 is several times cheaper, and the fixed 120-byte records, mostly zero bytes, shrink ~6x
-- (a batch of ~100 orders: 36 KB -> 6 KB), so the TOAST table writes ~65 bytes an order where
-- it wrote ~375: fewer chunks, index entries, new pages and WAL on every commit; a small batch
-- now fits in its row. Rows already written keep their form; reading either is transparent
-- (the view engine_events decodes the detoasted value).
-- A PostgreSQL built without lz4 keeps the uncompressed storage: the error is caught and the
-- column left as it is.
DO $$
BEGIN
  ALTER TABLE journal_batches ALTER COLUMN events SET COMPRESSION lz4,
                              ALTER COLUMN events SET STORAGE EXTENDED;
EXCEPTION WHEN feature_not_supported THEN
  RAISE NOTICE 'PostgreSQL without lz4: journal_batches.events stays uncompressed';
END
$$;
