-- API keys get ids (issue #15): an admin lists an account's keys by id and creation time (never
-- the key or its hash), makes new ones (POST /v1/admin/accounts/{id}/keys) and revokes one by id
-- (DELETE /v1/admin/keys/{key_id}). The keys already there are numbered in passing.
ALTER TABLE api_keys ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_id_key UNIQUE (id);
