// Sequencer routes for proof trees (matching/README.md "Proof trees"): place one, read it.
#include <unordered_map>

#include "server/api/api_internal.h"
#include "server/db/trees.h"

namespace proofbook::server {

namespace json = boost::json;
using matching::Role;

namespace {

// The tree as the engine placed it: its leaves' orders and their first assignments; GET
// /v1/trees/{id} has every node from then on.
HttpResponse PlacedTreeReply(const PlacedTree& placed) {
  const matching::TreeState& t = placed.tree;
  std::unordered_map<matching::OrderId, const matching::AssignmentState*> first;  // by order
  for (const matching::AssignmentState& a : placed.assignments) first.emplace(a.order, &a);
  json::array leaves;
  leaves.reserve(static_cast<std::size_t>(t.leaves));
  for (int32_t i = 0; i < t.leaves; ++i) {
    const matching::OrderId order = t.nodes[static_cast<std::size_t>(i)].order;
    json::object leaf{{"node", i}, {"order", order}};
    if (auto it = first.find(order); it != first.end()) {
      leaf["prover"] = it->second->prover;
      leaf["assignment"] = it->second->id;
      leaf["due_at_ms"] = it->second->due_at;
    }
    leaves.emplace_back(std::move(leaf));
  }
  return Json(json::object{{"tree", json::object{{"id", t.id},
                                                 {"status", "open"},
                                                 {"leaf_market", placed.leaf_market},
                                                 {"merge_market", placed.merge_market},
                                                 {"leaves", t.leaves},
                                                 {"leaf_price", t.leaf_price},
                                                 {"merge_price", t.merge_price},
                                                 {"placed_at_ms", t.placed_at},
                                                 {"deadline_ms", t.deadline},
                                                 {"leaf_share_bps", t.leaf_share_bps},
                                                 {"escrow", placed.escrow},
                                                 {"leaf_orders", std::move(leaves)}}}},
              201);
}

void PlaceTreeRoute(ApiContext& ctx, const HttpRequest& req, Responder respond) {
  auto who = Require(ctx, req, respond, {Role::kSequencer});
  if (!who) return;
  auto request = ParsePlaceTree(req.body, ctx.markets, ctx.ops.options().max_inputs_bytes);
  if (!request) return respond(ErrorResponse(request.error()));
  ctx.ops.PlaceTree(
      who->account, std::move(*request),
      Answer<PlacedTree>(std::move(respond), [](PlacedTree& t) { return PlacedTreeReply(t); }));
}

void GetTreeRoute(ApiContext& ctx, const HttpRequest& req, const PathParams& params,
                  Responder respond) {
  auto who = Require(ctx, req, respond, {Role::kSequencer, Role::kAdmin});
  if (!who) return;
  auto id = PathId(params, "id");
  if (!id) return respond(ErrorResponse(id.error()));
  auto wait_ms = ParseWaitMs(req);
  if (!wait_ms) return respond(ErrorResponse(wait_ms.error()));
  const Reader reader{who->account, who->role};
  const int64_t tree = *id;
  LongPoll(
      ctx, TreeWatchKey(tree), *wait_ms,
      [&db = ctx.db, reader, tree](Responder r) {
        RunDb(db, std::move(r), [reader, tree](DbSession& session) {
          return JsonOrError(ReadTree(session, reader, tree));
        });
      },
      [reader, tree](DbSession& session) { return TreeWorthWaitingFor(session, reader, tree); },
      std::move(respond));
}

}  // namespace

void RegisterTreeApi(Router& router, ApiContext& ctx) {
  router.Add("POST", "/v1/trees",
             [&ctx](const HttpRequest& req, const PathParams&, Responder respond) {
               PlaceTreeRoute(ctx, req, std::move(respond));
             });
  router.Add("GET", "/v1/trees/{id}",
             [&ctx](const HttpRequest& req, const PathParams& params, Responder respond) {
               GetTreeRoute(ctx, req, params, std::move(respond));
             });
}

}  // namespace proofbook::server
