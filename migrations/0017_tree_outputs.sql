-- Proof trees' outputs (issue #17; README "Prove a block as a tree"): a merge's inputs are its
-- two children's outputs, written by the journal into the merge's order when it is placed, in
-- the transaction that places it, so the prover's assignment carries them.
--
-- A node's row now exists from its tree's placement on, a merge or promotion row naming its
-- children (left_child, right_child; matching/tree_shape.h), and a proven node has its output:
--  - a node with an order: tree_node_output(its market's verifier, its order's inputs);
--  - a promotion (one child, no order): its child's output.
ALTER TABLE tree_nodes ADD COLUMN left_child integer;
ALTER TABLE tree_nodes ADD COLUMN right_child integer;  -- NULL for a promotion
ALTER TABLE tree_nodes ADD COLUMN output text;

-- What a proven node of a market of verifier kind `verifier` hands its parent, given its
-- order's inputs; NULL when the kind has no output (placement refuses such a tree:
-- server/core/requests.cc ParsePlaceTree).
--  - sha256-preimage: the digest whose preimage was proven;
--  - sha256-merge: SHA-256 of its children's digests (left || right, decoded), the bytes its
--    proof must be.
-- Lower-case hex either way, as sha256-merge's inputs take them.
CREATE FUNCTION tree_node_output(verifier text, inputs jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN verifier = 'sha256-preimage' THEN inputs ->> 'sha256'
    -- Checked before decode(), which would raise an error inside the journal's batch.
    WHEN verifier = 'sha256-merge' AND inputs ->> 'left' ~ '^[0-9a-f]{64}$'
         AND inputs ->> 'right' ~ '^[0-9a-f]{64}$' THEN
      encode(sha256(decode(inputs ->> 'left', 'hex') || decode(inputs ->> 'right', 'hex')), 'hex')
  END
$$;
