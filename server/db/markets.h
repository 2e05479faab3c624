// Read model and rows of markets: the list, the book (price levels), a new market's row, the
// slug -> index directory. Functions block on PostgreSQL and throw on database errors.
#pragma once

#include <boost/json.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "matching/status.h"
#include "matching/types.h"
#include "server/db/session.h"

namespace proofbook::server {

// GET /v1/markets: every market, by id.
boost::json::array ReadMarkets(DbSession& session);

// GET /v1/markets/{id}/book: open offers by price (asks), open orders by max price (bids), and
// the best `max_offers` offers one by one in rank order with their provers' reputation.
boost::json::object ReadBook(DbSession& session, matching::MarketId market, const std::string& slug,
                             int max_offers);

// A fresh market index for a market named `slug`, taken from markets_idx_seq; no row is
// written (the journal inserts it with the engine's acceptance of the market,
// server/journal/journal.h). kConflict (field `id`) if a market has that slug already. An index
// whose market is never committed stays unused.
Result<matching::MarketId> NextMarketIdx(DbSession& session, const std::string& slug);

// What the market directory keeps of a market: its slug, index, verifier kind and its
// verification key's nPublic (nullopt: no key, or no integer nPublic in it).
struct MarketDirectoryRow {
  std::string slug;
  matching::MarketId idx = 0;
  std::string verifier;
  std::optional<int64_t> n_public;
};

// Every market's directory row.
void ForEachMarket(DbSession& session, const std::function<void(const MarketDirectoryRow&)>& fn);

}  // namespace proofbook::server
