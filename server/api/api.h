// The HTTP API: every route, registered on a Router. See api_internal.h for the pieces the
// handlers share and schema/openapi.yaml for the contract.
#pragma once

#include "server/http/router.h"

namespace proofbook::server {

struct ApiContext;

// `ctx` and everything it refers to must outlive the router's use.
void RegisterApi(Router& router, ApiContext& ctx);

}  // namespace proofbook::server
