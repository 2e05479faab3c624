// The Beast side of an HttpRequest: what the blocking HttpClient and the asynchronous load
// generator (loadtest/proofbook_load.cc, many connections driven by coroutines, which a
// blocking client cannot serve) share. Separate from http_client.h so that only the code that
// talks to sockets compiles Beast.
//
// Stateless and thread-safe.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <string_view>

#include "clients/common/http_client.h"

namespace proofbook::clients {

using BeastRequest = boost::beast::http::request<boost::beast::http::string_body>;

// `request` as an HTTP/1.1 message to `target_prefix` + request.target, with
// `Host: host_header`, the user agent when not empty, keep-alive as asked, the request's own
// fields, and Content-Length from its body (none for an empty GET) unless those fields frame
// the body themselves (Content-Length or Transfer-Encoding, sent as given, right or wrong).
BeastRequest BuildRequest(const HttpRequest& request, std::string_view target_prefix,
                          std::string_view host_header, std::string_view user_agent,
                          bool keep_alive);

}  // namespace proofbook::clients
