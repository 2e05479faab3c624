// proofbook: the command line for sequencers, provers and admins. Parses the command (CLI11), finds
// the server and the API key (cli_config.h), runs one command (cli_commands.h) and exits with a
// code scripts can trust (ExitCode in cli_api.h). Errors are one line on stderr:
//   proofbook: unauthenticated: invalid API key (HTTP 401)
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <exception>
#include <iostream>
#include <map>
#include <optional>
#include <string>

#include "clients/cli_api.h"
#include "clients/cli_commands.h"
#include "clients/cli_config.h"
#include "clients/cli_draws.h"

namespace {

using namespace proofbook::cli;

constexpr char kFooter[] =
    R"(Configuration: each setting comes from its flag, else the environment (PROOFBOOK_URL,
PROOFBOOK_API_KEY), else the config file (--config FILE, by default
$XDG_CONFIG_HOME/proofbook/config or ~/.config/proofbook/config, lines "url = ..." and
"api_key = ..."), else the default URL http://127.0.0.1:8080. Flags show in `ps`: prefer the
environment or the config file for the API key. The key is never printed, except by
`admin account create`, once.

Output: tables for people; --json prints the server's JSON unchanged, one document on stdout.

Exit codes:
  0  success
  1  anything else (a server error 500, an answer that makes no sense, a file not written)
  2  usage error: bad command line, configuration, or --inputs/--verification-key file
  3  the server refused the request (HTTP 4xx): the message shows its code, message, field
  4  the server is unavailable: cannot connect, HTTP 502/503/504, or no answer in time
  5  order place --wait ended without a proof: the order expired, failed or was cancelled,
     or --wait-timeout passed (the order itself goes on); tree place --wait: the tree
     failed, or --wait-timeout passed)";

CLI::Option* AddOptional(CLI::App* app, const std::string& name, std::optional<int64_t>& target,
                         const std::string& help) {
  return app->add_option_function<int64_t>(
      name, [&target](const int64_t& v) { target = v; }, help);
}

int Report(const CliError& e) {
  std::cerr << "proofbook: " << e.message << std::endl;
  return e.exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"proofbook: the command line for proofbook sequencers, provers and admins",
               "proofbook"};
  app.footer(kFooter);
  app.fallthrough();  // global options may also come after the subcommand
  app.require_subcommand(1);
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return "proofbook: " + std::string(e.what()) + "\nRun with --help for more information.\n";
  });

  ConfigInputs config;
  OutputMode mode;
  double timeout_s = 30;
  app.add_option("--url", config.url,
                 "Server URL, http[s]://host:port (default http://127.0.0.1:8080)")
      ->envname("PROOFBOOK_URL");
  app.add_option("--ca-file", config.ca_file,
                 "With https://: trust the CA certificates in this PEM file instead of the "
                 "system's")
      ->envname("PROOFBOOK_CA_FILE");
  app.add_option("--api-key", config.api_key, "Your API key (pbk_...)")
      ->envname("PROOFBOOK_API_KEY");
  app.add_option("--config", config.config_file,
                 "Config file (default $XDG_CONFIG_HOME/proofbook/config or "
                 "~/.config/proofbook/config)");
  app.add_flag("--json", mode.json, "Print the server's JSON unchanged, for scripts");
  app.add_option("--timeout", timeout_s, "Seconds any one request may take")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();

  // ---- admin ----
  CLI::App* admin = app.add_subcommand("admin", "Admin: accounts, deposits, markets");
  admin->require_subcommand(1);
  CLI::App* admin_account = admin->add_subcommand("account", "Accounts");
  admin_account->require_subcommand(1);
  CLI::App* account_create =
      admin_account->add_subcommand("create", "Create an account and its API key (shown once)");
  AccountCreateArgs account_args;
  account_create->add_option("--role", account_args.role, "sequencer, prover or admin")
      ->required()
      ->check(CLI::IsMember({"sequencer", "prover", "admin"}));
  account_create->add_option("--name", account_args.name, "Display name")->required();

  CLI::App* deposit = admin->add_subcommand("deposit", "Credit an account from outside");
  DepositArgs deposit_args;
  deposit->add_option("--account", deposit_args.account, "Account id")
      ->required()
      ->check(CLI::PositiveNumber);
  deposit->add_option("--amount", deposit_args.amount, "Base units")
      ->required()
      ->check(CLI::PositiveNumber);
  deposit->add_option("--reference", deposit_args.reference,
                      "External transfer id; the same reference again credits nothing");

  CLI::App* admin_market = admin->add_subcommand("market", "Markets");
  admin_market->require_subcommand(1);
  CLI::App* market_create = admin_market->add_subcommand("create", "Create a market");
  MarketCreateArgs market_args;
  market_create->add_option("--id", market_args.id, "Market slug: a-z, 0-9 and '-'")->required();
  market_create->add_option("--proof-system", market_args.proof_system, "e.g. groth16")->required();
  market_create
      ->add_option("--verifier", market_args.verifier,
                   "snarkjs-groth16, sha256-preimage or sha256-merge")
      ->required()
      ->check(CLI::IsMember({"snarkjs-groth16", "sha256-preimage", "sha256-merge"}));
  market_create->add_option("--verification-key", market_args.verification_key_file,
                            "snarkjs's verification_key.json (snarkjs-groth16 only)");
  market_create->add_flag("--vrf-turns", market_args.vrf_turns,
                          "vrf orders: stake-based turns (every eligible prover, by stake alone)");
  // The market parameters of POST /v1/admin/markets; the server's defaults when left out.
  const std::pair<const char*, const char*> kMarketParams[] = {
      {"min_stake", "Stake a prover needs to offer here, base units"},
      {"min_slash", "Least slash for a miss or an invalid proof (capped at the stake), base units"},
      {"slash_multiplier_bps", "Slash as a share of the job's price (at least --min-slash), bps"},
      {"repeat_window_ms", "A fault this soon after the prover's last slash is slashed double, ms"},
      {"compensation_bps", "Share of a slash paid to the sequencer, bps"},
      {"fee_bps", "Share of each price kept by the treasury, bps"},
      {"min_prover_time_ms", "Least time an assignment is given, ms"},
      {"grace_bps", "Slack on top of a prover's estimate for due times, bps"},
      {"uncle_reward_bps", "Reward for a valid late proof, bps of its price"},
      {"decline_window_ms", "A prover may decline as busy this long after assignment, ms"},
      {"unprovable_quorum", "Distinct provers declining as unprovable that fail an order"},
      {"unprovable_fee_bps",
       "Share of a failed unprovable order's max price the decliners get, bps"},
      {"griefing_bps", "Paid from escrow to each prover bad inputs wasted, bps of its price"},
      {"reputation_weight_bps",
       "How far reputation moves offers ahead of cheaper ones (0: price), bps"},
      {"max_proof_bytes", "Largest proof accepted, bytes"}};
  std::map<std::string, std::optional<int64_t>> market_params;
  for (const auto& [name, help] : kMarketParams) {
    std::string flag = "--" + std::string(name);
    std::replace(flag.begin(), flag.end(), '_', '-');
    AddOptional(market_create, flag, market_params[name], help)->check(CLI::NonNegativeNumber);
  }

  // ---- markets, orders, account, history ----
  CLI::App* markets = app.add_subcommand("markets", "List the markets");
  CLI::App* book = app.add_subcommand("book", "A market's book: offers and open orders by price");
  std::string book_market;
  int64_t book_offers = 0;
  book->add_option("market", book_market, "Market slug")->required();
  book->add_option("--offers", book_offers, "List this many offers, best first (default 20)")
      ->check(CLI::PositiveNumber);

  CLI::App* order = app.add_subcommand("order", "Sequencer: proof orders");
  order->require_subcommand(1);
  CLI::App* place = order->add_subcommand("place", "Place a proof order (escrows max price x k)");
  OrderPlaceArgs place_args;
  place->add_option("--market", place_args.market, "Market slug")->required();
  place->add_option("--max-price", place_args.max_price, "Most you pay per proof, base units")
      ->required()
      ->check(CLI::PositiveNumber);
  place->add_option("--deadline-ms", place_args.deadline_ms, "Proofs wanted within this many ms")
      ->required()
      ->check(CLI::PositiveNumber);
  place->add_option("--inputs", place_args.inputs,
                    "Public inputs: JSON, @file.json, or @- for stdin");
  place->add_option("--priority", place_args.priority, "Rank offers by price or time")
      ->check(CLI::IsMember({"price", "time"}));
  AddOptional(place, "--redundancy", place_args.redundancy,
              "Proofs wanted (k), from distinct provers");
  AddOptional(place, "--min-reputation", place_args.min_reputation,
              "Lowest prover reputation, bps");
  place->add_option("--selection", place_args.selection, "best, direct (with --prover) or vrf")
      ->check(CLI::IsMember({"best", "direct", "vrf"}));
  AddOptional(place, "--prover", place_args.prover, "The prover of a direct order");
  AddOptional(place, "--exclusive-ms", place_args.exclusive_ms,
              "How long only --prover may take a direct order, ms");
  place->add_option("--client-order-id", place_args.client_order_id,
                    "Idempotency key: the same id again returns the same order");
  CLI::Option* wait =
      place->add_flag("--wait", place_args.wait,
                      "Block until the order is final; on completion write its proof(s) to --out");
  place
      ->add_option("--wait-timeout", place_args.wait_timeout_s,
                   "With --wait: give up after this many seconds (exit 5; the order goes on)")
      ->check(CLI::PositiveNumber)
      ->needs(wait);
  place
      ->add_option("--out", place_args.out,
                   "With --wait: the proof's file (default order-<id>.proof); with several "
                   "proofs FILE.1, FILE.2, ...")
      ->needs(wait);

  CLI::App* tree = app.add_subcommand("tree", "Sequencer: a block's whole proof as one tree");
  tree->require_subcommand(1);
  CLI::App* tree_place =
      tree->add_subcommand("place", "Place a proof tree (escrows every leaf and merge)");
  TreePlaceArgs tree_args;
  tree_place->add_option("--leaf-market", tree_args.leaf_market, "The leaves' market")->required();
  tree_place
      ->add_option("--merge-market", tree_args.merge_market,
                   "The merges' market (verifier sha256-merge)")
      ->required();
  tree_place
      ->add_option("--leaves", tree_args.leaves,
                   "The leaves' inputs, a JSON array (at most 4,096): JSON, @file.json, or @-")
      ->required();
  tree_place->add_option("--leaf-price", tree_args.leaf_price, "Most you pay per leaf")
      ->required()
      ->check(CLI::PositiveNumber);
  AddOptional(tree_place, "--merge-price", tree_args.merge_price,
              "Most you pay per merge (required with more than one leaf)");
  tree_place
      ->add_option("--deadline-ms", tree_args.deadline_ms, "The root wanted within this many ms")
      ->required()
      ->check(CLI::PositiveNumber);
  AddOptional(tree_place, "--leaf-share-bps", tree_args.leaf_share_bps,
              "The leaves' share of the time to the deadline, bps (default 5000)");
  AddOptional(tree_place, "--min-reputation", tree_args.min_reputation,
              "Lowest prover reputation, bps");
  tree_place->add_option("--priority", tree_args.priority, "Rank offers by price or time")
      ->check(CLI::IsMember({"price", "time"}));
  tree_place->add_option("--leaf-selection", tree_args.leaf_selection, "best or vrf")
      ->check(CLI::IsMember({"best", "vrf"}));
  CLI::Option* tree_wait = tree_place->add_flag(
      "--wait", tree_args.wait, "Block until the root is proven (exit 0) or the tree fails (5)");
  tree_place
      ->add_option("--wait-timeout", tree_args.wait_timeout_s,
                   "With --wait: give up after this many seconds (exit 5; the tree goes on)")
      ->check(CLI::PositiveNumber)
      ->needs(tree_wait);
  CLI::App* tree_show = tree->add_subcommand("show", "A tree with every node");
  int64_t tree_id = 0;
  tree_show->add_option("id", tree_id, "Tree id")->required()->check(CLI::PositiveNumber);

  CLI::App* get = order->add_subcommand("get", "One order with its assignments and inputs");
  int64_t get_id = 0;
  get->add_option("id", get_id, "Order id")->required()->check(CLI::PositiveNumber);

  CLI::App* list = order->add_subcommand("list", "Your orders, newest first");
  OrderListArgs list_args;
  list->add_option("--status", list_args.status, "open, completed, expired, failed or cancelled")
      ->check(CLI::IsMember({"open", "completed", "expired", "failed", "cancelled"}));
  list->add_option("--market", list_args.market, "Only this market");
  list->add_option("--limit", list_args.limit, "Page size (at most 200)")
      ->check(CLI::PositiveNumber);
  list->add_option("--cursor", list_args.cursor, "The next page after this cursor")
      ->check(CLI::PositiveNumber);

  CLI::App* cancel = order->add_subcommand("cancel", "Cancel an order no prover holds; refunds it");
  int64_t cancel_id = 0;
  cancel->add_option("id", cancel_id, "Order id")->required()->check(CLI::PositiveNumber);

  CLI::App* account = app.add_subcommand("account", "Your account");
  account->require_subcommand(1);
  CLI::App* show = account->add_subcommand("show", "Balances and reputation");

  // ---- provers ----
  CLI::App* decline =
      app.add_subcommand("decline", "Prover: hand an assignment back (busy) or call it unprovable");
  DeclineArgs decline_args;
  decline->add_option("assignment", decline_args.assignment, "Assignment id")
      ->required()
      ->check(CLI::PositiveNumber);
  decline
      ->add_option("--reason", decline_args.reason,
                   "busy (within the market's decline window) or unprovable (the statement "
                   "cannot be proved)")
      ->required()
      ->check(CLI::IsMember({"busy", "unprovable"}));

  CLI::App* prover = app.add_subcommand("prover", "Provers' standing");
  prover->require_subcommand(1);
  CLI::App* prover_show = prover->add_subcommand(
      "show", "A prover's stake, reputation, jails, jobs and delivery times");
  int64_t prover_id = 0;
  prover_show->add_option("id", prover_id, "Prover account id (default: your own)")
      ->check(CLI::PositiveNumber);

  CLI::App* draw = app.add_subcommand("draw", "VRF draws of vrf orders");
  draw->require_subcommand(1);
  CLI::App* draw_verify = draw->add_subcommand(
      "verify", "Re-derive every draw of the orders offline from what the server published");
  std::vector<int64_t> draw_orders;
  draw_verify->add_option("orders", draw_orders, "Order ids")
      ->required()
      ->check(CLI::PositiveNumber);

  HistoryArgs settlement_args, slashing_args;
  CLI::App* settlements =
      app.add_subcommand("settlements", "Payments for verified proofs, newest first");
  CLI::App* slashings = app.add_subcommand("slashings", "Slashed provers, newest first");
  for (auto [cmd, args] :
       {std::pair{settlements, &settlement_args}, std::pair{slashings, &slashing_args}}) {
    cmd->add_option("--limit", args->limit, "Page size (at most 200)")->check(CLI::PositiveNumber);
    cmd->add_option("--cursor", args->cursor, "The next page after this cursor")
        ->check(CLI::PositiveNumber);
    cmd->add_option("--order", args->order, "Only this order")->check(CLI::PositiveNumber);
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }

  try {
    auto resolved = ResolveConfig(config);
    if (!resolved) return Report(resolved.error());
    const bool needs_key = !markets->parsed() && !book->parsed();
    if (needs_key && resolved->api_key.empty()) {
      std::string file = config.config_file.empty() ? DefaultConfigPath() : config.config_file;
      return Report(CliError{kExitUsage,
                             "no API key: pass --api-key, set PROOFBOOK_API_KEY, or "
                             "put 'api_key = ...' in " +
                                 (file.empty() ? "the config file" : file)});
    }
    ApiClient api(resolved->endpoint, resolved->api_key,
                  std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000)));

    for (const auto& [name, value] : market_params) {
      if (value) market_args.params.emplace_back(name, *value);
    }
    Outcome outcome = Done{};
    if (account_create->parsed()) {
      outcome = AccountCreate(api, mode, account_args);
    } else if (deposit->parsed()) {
      outcome = Deposit(api, mode, deposit_args);
    } else if (market_create->parsed()) {
      outcome = MarketCreate(api, mode, market_args);
    } else if (markets->parsed()) {
      outcome = MarketList(api, mode);
    } else if (book->parsed()) {
      outcome = MarketBook(api, mode, book_market, book_offers);
    } else if (place->parsed()) {
      outcome = OrderPlace(api, mode, place_args);
    } else if (tree_place->parsed()) {
      outcome = TreePlace(api, mode, tree_args);
    } else if (tree_show->parsed()) {
      outcome = TreeShow(api, mode, tree_id);
    } else if (get->parsed()) {
      outcome = OrderGet(api, mode, get_id);
    } else if (list->parsed()) {
      outcome = OrderList(api, mode, list_args);
    } else if (cancel->parsed()) {
      outcome = OrderCancel(api, mode, cancel_id);
    } else if (show->parsed()) {
      outcome = AccountShow(api, mode);
    } else if (settlements->parsed()) {
      outcome = Settlements(api, mode, settlement_args);
    } else if (slashings->parsed()) {
      outcome = Slashings(api, mode, slashing_args);
    } else if (decline->parsed()) {
      outcome = AssignmentDecline(api, mode, decline_args);
    } else if (prover_show->parsed()) {
      outcome = ProverShow(api, mode, prover_id);
    } else if (draw_verify->parsed()) {
      outcome = DrawVerify(api, mode, draw_orders);
    }
    std::cout.flush();
    if (!outcome) return Report(outcome.error());
    if (!std::cout) return Report(CliError{kExitFailure, "cannot write to stdout"});
    return kExitOk;
  } catch (const std::exception& e) {
    return Report(CliError{kExitFailure, std::string("unexpected error: ") + e.what()});
  }
}
