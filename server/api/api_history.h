// Money history routes: GET /v1/settlements (provers paid for verified proofs) and
// GET /v1/slashings (provers slashed for a missed deadline or an invalid proof), read from the
// journal's tables in PostgreSQL. Each caller sees only its part: a prover its own rows, a
// sequencer the rows of its own orders, an admin everything. Newest first, keyset pagination
// on the journal's event sequence number. Handlers run their queries on the database pool,
// never on an io thread.
#pragma once

#include "server/http/router.h"

namespace proofbook::server {

struct ApiContext;

void RegisterHistoryApi(Router& router, ApiContext& ctx);

}  // namespace proofbook::server
