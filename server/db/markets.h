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

// Inserts a market row; its dense index, or kConflict (field `id`) if the slug is taken.
// `verification_key`: JSON text, or empty for none.
Result<matching::MarketId> InsertMarket(DbSession& session, const std::string& slug,
                                        const std::string& proof_system,
                                        const std::string& verifier,
                                        const matching::MarketParams& p,
                                        const std::string& verification_key);

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
