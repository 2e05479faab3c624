// Read model of proof trees (matching/README.md "Proof trees"; migrations/0016_proof_trees.sql):
// a tree with every node's state. Functions block on PostgreSQL and throw on database errors.
#pragma once

#include <boost/json.hpp>
#include <cstdint>

#include "matching/status.h"
#include "server/db/orders.h"
#include "server/db/session.h"

namespace proofbook::server {

// GET /v1/trees/{id}: {"tree": {..., "nodes": [...]}} for its sequencer or an admin (anyone
// else: kNotFound). Each node of the layout is listed, placed or not: its level and kind (leaf,
// merge, promotion), its order and that order's status, the prover whose proof proved it (or
// who holds it now) with its due time, the proof's SHA-256 once one is stored, and a proven
// node's output (migrations/0017_tree_outputs.sql); the tree has its root_output once proven.
Result<boost::json::object> ReadTree(DbSession& session, Reader reader, int64_t tree_id);

// True when the tree is open and `reader` may see it: a long poll on it may wait.
bool TreeWorthWaitingFor(DbSession& session, Reader reader, int64_t tree_id);

}  // namespace proofbook::server
