-- Proof trees (issue #17; matching/README.md "Proof trees"): a block's whole proof as one
-- order. The engine places the tree's nodes as orders of its own; the journal records the tree,
-- its nodes and its events. Nothing here is read by the hot path of ordinary orders.
ALTER TYPE event_kind ADD VALUE 'tree_node_placed';
ALTER TYPE event_kind ADD VALUE 'tree_node_proven';
ALTER TYPE event_kind ADD VALUE 'merge_takeover';
ALTER TYPE event_kind ADD VALUE 'tree_completed';
ALTER TYPE event_kind ADD VALUE 'tree_failed';
ALTER TYPE command_kind ADD VALUE 'place_tree';

-- The tree an event or a transfer belongs to (its placement, its own events, its escrow and
-- the refund of its unplaced merges); NULL for everything else.
ALTER TABLE engine_events ADD COLUMN tree_id bigint;
ALTER TABLE ledger_entries ADD COLUMN tree_id bigint;
ALTER TABLE engine_state ADD COLUMN next_tree bigint NOT NULL DEFAULT 1 CHECK (next_tree >= 1);

CREATE TABLE trees (
  id                 bigint PRIMARY KEY CHECK (id > 0),
  account_id         bigint NOT NULL REFERENCES accounts (id),
  leaf_market_idx    integer NOT NULL REFERENCES markets (idx),
  merge_market_idx   integer NOT NULL REFERENCES markets (idx),
  leaves             integer NOT NULL CHECK (leaves BETWEEN 1 AND 4096),
  leaf_price         bigint NOT NULL CHECK (leaf_price > 0),
  merge_price        bigint NOT NULL CHECK (merge_price >= 0),
  placed_at_ms       bigint NOT NULL,
  deadline_ms        bigint NOT NULL,
  priority           text NOT NULL CHECK (priority IN ('price', 'time')),
  min_reputation_bps integer NOT NULL,
  leaf_selection     text NOT NULL CHECK (leaf_selection IN ('best', 'vrf')),
  leaf_share_bps     integer NOT NULL CHECK (leaf_share_bps BETWEEN 1 AND 9999),
  -- Escrowed for the merges not placed yet; 0 once the tree ended.
  reserve            bigint NOT NULL CHECK (reserve >= 0),
  status             text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'completed', 'failed')),
  failure            text,    -- failed: the failing node's reason (deadline_passed, bad_inputs, ...)
  failed_order       bigint,  -- failed: the node's order that failed it
  created_seq        bigint NOT NULL,
  ended_seq          bigint
);
CREATE INDEX trees_account_idx ON trees (account_id, id);
CREATE INDEX trees_open_idx ON trees (id) WHERE status = 'open';

-- A node once placed (its order) or proven (its prover; a promotion is proven without an order).
-- Node indices: matching/tree_shape.h.
CREATE TABLE tree_nodes (
  tree_id   bigint NOT NULL REFERENCES trees (id),
  node      integer NOT NULL CHECK (node >= 0),
  order_id  bigint REFERENCES orders (id),
  prover_id bigint REFERENCES accounts (id),
  done      boolean NOT NULL DEFAULT false,
  PRIMARY KEY (tree_id, node)
);

-- An order that is a tree's node: its tree and node index, and for a merge in its takeover phase
-- the other child's prover, next in line.
ALTER TABLE orders ADD COLUMN tree_id bigint REFERENCES trees (id);
ALTER TABLE orders ADD COLUMN tree_node integer;
ALTER TABLE orders ADD COLUMN takeover_prover bigint;
CREATE INDEX orders_tree_idx ON orders (tree_id, tree_node) WHERE tree_id IS NOT NULL;
