// The commands of `proofbook`: each takes its parsed arguments, talks to the server through
// an ApiClient and prints either tables for people or, with --json, the server's JSON exactly
// as it came (one document on stdout). Errors are returned, never printed here; notes for
// people that are not the result go to stderr in --json mode so stdout stays one document.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "clients/cli_api.h"

namespace proofbook::cli {

struct OutputMode {
  bool json = false;
};

struct AccountCreateArgs {
  std::string role, name;
};

struct DepositArgs {
  int64_t account = 0, amount = 0;
  std::string reference;  // empty: none
};

struct MarketCreateArgs {
  std::string id, proof_system, verifier;
  std::string verification_key_file;                    // empty: none
  std::vector<std::pair<std::string, int64_t>> params;  // only those given: {"min_stake", 100}
  bool vrf_turns = false;  // vrf orders draw by stake alone among every eligible prover
};

struct OrderPlaceArgs {
  std::string market;
  int64_t max_price = 0, deadline_ms = 0;
  std::string inputs;  // JSON text, or @file, or @- for stdin; empty: none
  std::string priority, selection, client_order_id;  // empty: the server's default
  std::optional<int64_t> redundancy, min_reputation, prover, exclusive_ms;
  bool wait = false;
  double wait_timeout_s = 0;  // 0: until the order is final
  std::string out;            // empty: order-<id>.proof
};

// `proofbook tree place`: POST /v1/trees (README "Prove a block as a tree").
struct TreePlaceArgs {
  std::string leaf_market, merge_market;
  std::string leaves;  // a JSON array of the leaves' inputs: the text, @file, or @- for stdin
  int64_t leaf_price = 0, deadline_ms = 0;
  std::optional<int64_t> merge_price, min_reputation, leaf_share_bps;
  std::string priority, leaf_selection;  // empty: the server's default
  bool wait = false;
  double wait_timeout_s = 0;  // 0: until the tree is final
};

struct OrderListArgs {
  std::string status, market;
  int64_t limit = 0, cursor = 0;  // 0: the server's default / the first page
};

struct HistoryArgs {
  int64_t limit = 0, cursor = 0, order = 0;  // 0: default / first page / every order
};

struct DeclineArgs {
  int64_t assignment = 0;
  std::string reason;  // "busy" or "unprovable"
};

Outcome AccountCreate(ApiClient& api, const OutputMode& mode, const AccountCreateArgs& args);
Outcome Deposit(ApiClient& api, const OutputMode& mode, const DepositArgs& args);
Outcome MarketCreate(ApiClient& api, const OutputMode& mode, const MarketCreateArgs& args);
Outcome MarketList(ApiClient& api, const OutputMode& mode);
// `offers`: how many offers to list, best first (0: the server's default).
Outcome MarketBook(ApiClient& api, const OutputMode& mode, const std::string& market,
                   int64_t offers);
Outcome OrderPlace(ApiClient& api, const OutputMode& mode, const OrderPlaceArgs& args);
Outcome OrderGet(ApiClient& api, const OutputMode& mode, int64_t id);
Outcome OrderList(ApiClient& api, const OutputMode& mode, const OrderListArgs& args);
Outcome OrderCancel(ApiClient& api, const OutputMode& mode, int64_t id);
// Places a proof tree; with --wait, long-polls until its root is proven (exit 0, the root's
// output printed) or the tree fails (exit 5).
Outcome TreePlace(ApiClient& api, const OutputMode& mode, const TreePlaceArgs& args);
// A tree with every node: its state, prover, due time and output.
Outcome TreeShow(ApiClient& api, const OutputMode& mode, int64_t id);
Outcome AccountShow(ApiClient& api, const OutputMode& mode);
Outcome Settlements(ApiClient& api, const OutputMode& mode, const HistoryArgs& args);
Outcome Slashings(ApiClient& api, const OutputMode& mode, const HistoryArgs& args);
// Prover: hands an assignment back (POST /v1/assignments/{id}/decline).
Outcome AssignmentDecline(ApiClient& api, const OutputMode& mode, const DeclineArgs& args);
// A prover's standing (GET /v1/provers/{id}); `id` 0: the caller's own account.
Outcome ProverShow(ApiClient& api, const OutputMode& mode, int64_t id);

}  // namespace proofbook::cli
