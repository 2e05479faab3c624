// Limits on the JSON the server stores and reads back, named once (issue #11: inputs nested
// deeper than the reader allowed were accepted with 201, then unreadable: GET answered 500 and
// the prover was sent `inputs: null`).
//
// An order's `inputs` may nest arrays and objects at most kMaxInputsDepth deep: `[[1]]` is
// depth 2, a scalar 0. JsonBody::Raw enforces it at the door (400, field `inputs`), and every
// reader of stored inputs parses with StoredInputsOptions(), which allows exactly that depth
// (Boost.JSON's max_depth counts the same way). A client reading a message that carries inputs
// must allow a few levels more for the envelope.
#pragma once

#include <boost/json/parse_options.hpp>
#include <cstddef>

namespace proofbook::server {

inline constexpr std::size_t kMaxInputsDepth = 32;

inline boost::json::parse_options StoredInputsOptions() {
  boost::json::parse_options options;
  options.max_depth = kMaxInputsDepth;
  return options;
}

}  // namespace proofbook::server
