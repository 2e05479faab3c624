#include "server/db/trees.h"

#include <string>
#include <vector>

#include "matching/tree_shape.h"
#include "server/db/pq.h"

namespace proofbook::server {

namespace json = boost::json;

Result<json::object> ReadTree(DbSession& session, Reader reader, int64_t tree_id) {
  ReadSnapshot tx(Pq(session));
  auto trees = tx.exec_params(
      "SELECT t.id, t.account_id, lm.id, mm.id, t.leaves, t.leaf_price, t.merge_price, "
      "t.placed_at_ms, t.deadline_ms, t.leaf_share_bps, t.reserve, t.status, t.failure, "
      "t.failed_order FROM trees t JOIN markets lm ON lm.idx = t.leaf_market_idx "
      "JOIN markets mm ON mm.idx = t.merge_market_idx WHERE t.id = $1",
      tree_id);
  const Status not_found(StatusCode::kNotFound, "no tree " + std::to_string(tree_id));
  if (trees.empty()) return not_found;
  const pqxx::row t = trees[0];
  if (reader.role != matching::Role::kAdmin && t[1].as<int64_t>() != reader.account) {
    return not_found;  // another sequencer's tree is not there for you
  }
  const auto leaves = t[4].as<int32_t>();
  const matching::TreeShape shape(leaves);
  std::vector<json::object> nodes(static_cast<std::size_t>(shape.nodes()));
  for (int32_t n = 0; n < shape.nodes(); ++n) {
    const int32_t level = shape.LevelOf(n);
    json::object& o = nodes[static_cast<std::size_t>(n)];
    o["node"] = n;
    o["level"] = level;
    o["kind"] = level == 0 ? "leaf" : shape.IsMerge(n) ? "merge" : "promotion";
    o["parent"] = shape.Parent(n) < 0 ? json::value(nullptr) : json::value(shape.Parent(n));
    o["state"] = "waiting";  // for its children
  }
  // The assignment that speaks for a node: its settled one, else its latest.
  for (const auto& r : tx.exec_params(
           "SELECT n.node, n.order_id, n.prover_id, n.done, o.status, o.deadline_ms, "
           "a.prover_id, a.status, a.due_at_ms, encode(p.sha256, 'hex'), n.output "
           "FROM tree_nodes n LEFT JOIN orders o ON o.id = n.order_id "
           "LEFT JOIN LATERAL (SELECT * FROM assignments x WHERE x.order_id = n.order_id "
           "ORDER BY (x.status = 'settled') DESC, x.id DESC LIMIT 1) a ON true "
           "LEFT JOIN proofs p ON p.assignment_id = a.id "
           "WHERE n.tree_id = $1 ORDER BY n.node",
           tree_id)) {
    const auto n = r[0].as<std::size_t>();
    if (n >= nodes.size()) continue;
    json::object& o = nodes[n];
    if (!r[1].is_null()) {
      o["order"] = r[1].as<int64_t>();
      o["order_status"] = r[4].as<std::string>();
      o["deadline_ms"] = r[5].as<int64_t>();
      o["state"] = "placed";
    }
    if (!r[6].is_null()) {
      o["prover"] = r[6].as<int64_t>();
      o["assignment_status"] = r[7].as<std::string>();
      o["due_at_ms"] = r[8].as<int64_t>();
    }
    if (!r[9].is_null()) o["proof_sha256"] = r[9].as<std::string>();
    if (r[3].as<bool>()) {
      o["state"] = "proven";
      if (!r[2].is_null()) o["prover"] = r[2].as<int64_t>();
      if (!r[10].is_null()) o["output"] = r[10].as<std::string>();
    }
  }
  // The root's output once it is proven: for a sha256 tree, the Merkle root of the leaves'
  // digests (README "Prove a block as a tree").
  const json::value* root_output = nodes.back().if_contains("output");
  json::value root_value = root_output != nullptr ? *root_output : json::value(nullptr);
  json::array node_array;
  node_array.reserve(nodes.size());
  for (json::object& o : nodes) node_array.emplace_back(std::move(o));
  json::object tree{
      {"id", t[0].as<int64_t>()},
      {"account", t[1].as<int64_t>()},
      {"leaf_market", t[2].as<std::string>()},
      {"merge_market", t[3].as<std::string>()},
      {"leaves", leaves},
      {"leaf_price", t[5].as<int64_t>()},
      {"merge_price", t[6].as<int64_t>()},
      {"placed_at_ms", t[7].as<int64_t>()},
      {"deadline_ms", t[8].as<int64_t>()},
      {"leaf_share_bps", t[9].as<int32_t>()},
      {"reserve", t[10].as<int64_t>()},
      {"status", t[11].as<std::string>()},
      {"root", shape.root()},
      {"root_output", std::move(root_value)},
      {"nodes", std::move(node_array)},
  };
  if (!t[12].is_null()) tree["failure"] = t[12].as<std::string>();
  if (!t[13].is_null()) tree["failed_order"] = t[13].as<int64_t>();
  tx.commit();
  return json::object{{"tree", std::move(tree)}};
}

bool TreeWorthWaitingFor(DbSession& session, Reader reader, int64_t tree_id) {
  ReadSnapshot tx(Pq(session));
  auto rows =
      tx.exec_params("SELECT status = 'open' AND ($3 OR account_id = $2) FROM trees WHERE id = $1",
                     tree_id, reader.account, reader.role == matching::Role::kAdmin);
  return !rows.empty() && rows[0][0].as<bool>();
}

}  // namespace proofbook::server
