// The HTTP API's handlers, registered on a Router. Handlers never block an io thread:
// PostgreSQL work goes to the Database's workers and answers through the Responder.
#pragma once

#include "server/database.h"
#include "server/router.h"

namespace proofbook::server {

// /healthz, /readyz and the public read endpoints. `db` must outlive the router's use.
void RegisterApi(Router& router, Database& db);

}  // namespace proofbook::server
