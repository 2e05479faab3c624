-- API keys get ids (issue #15): an admin lists an account's keys by id and creation time (never
-- the key or its hash), makes new ones (POST /v1/admin/accounts/{id}/keys) and revokes one by id
-- (DELETE /v1/admin/keys/{key_id}). The keys already there are numbered in passing.
ALTER TABLE api_keys ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_id_key UNIQUE (id);

-- A key as an admin sees it (never the key, never its hash): what db/accounts.cc reads back.
CREATE VIEW api_key_rows AS
  SELECT k.id, k.account_id, a.role,
         (extract(epoch FROM k.created_at) * 1000)::bigint AS created_at_ms,
         (extract(epoch FROM k.revoked_at) * 1000)::bigint AS revoked_at_ms
    FROM api_keys k JOIN accounts a ON a.id = k.account_id;
