// Sequencer routes for proof trees (matching/README.md "Proof trees"): place one, read it.
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
  json::array leaves;
  for (int32_t i = 0; i < t.leaves; ++i) {
    json::object leaf{{"node", i}, {"order", t.nodes[static_cast<std::size_t>(i)].order}};
    for (const matching::AssignmentState& a : placed.assignments) {
      if (a.order != t.nodes[static_cast<std::size_t>(i)].order) continue;
      leaf["prover"] = a.prover;
      leaf["assignment"] = a.id;
      leaf["due_at_ms"] = a.due_at;
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
  RunDb(ctx.db, std::move(respond),
        [reader = Reader{who->account, who->role}, tree = *id](DbSession& session) {
          return JsonOrError(ReadTree(session, reader, tree));
        });
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
