// Read model and rows of markets: the list, the book (price levels), a new market's row, the
// slug -> index directory. Functions block on PostgreSQL and throw on database errors.
#pragma once

#include <boost/json.hpp>
#include <functional>
#include <string>

#include "matching/status.h"
#include "matching/types.h"
#include "server/db/session.h"

namespace proofbook::server {

// GET /v1/markets: every market, by id.
boost::json::array ReadMarkets(DbSession& session);

// GET /v1/markets/{id}/book: open offers by price (asks) and open orders by max price (bids).
boost::json::object ReadBook(DbSession& session, matching::MarketId market,
                             const std::string& slug);

// Inserts a market row; its dense index, or kConflict (field `id`) if the slug is taken.
// `verification_key`: JSON text, or empty for none.
Result<matching::MarketId> InsertMarket(DbSession& session, const std::string& slug,
                                        const std::string& proof_system,
                                        const std::string& verifier,
                                        const matching::MarketParams& p,
                                        const std::string& verification_key);

// Every market's (slug, index).
void ForEachMarket(DbSession& session,
                   const std::function<void(const std::string& slug, matching::MarketId idx)>& fn);

}  // namespace proofbook::server
