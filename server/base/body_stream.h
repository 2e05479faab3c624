// BodyStream: a reply body made piece by piece, for replies of any length or duration (a CSV
// export, server-sent events). The HTTP layer sends it with chunked transfer coding; producers
// (api/, core/) know nothing of HTTP. Thread rules below, per call.
#pragma once

#include <functional>
#include <string>

namespace proofbook::server {

// A body made piece by piece (a CSV export, server-sent events): the session sends it with
// chunked transfer coding, asking for the next piece only once the previous one is written, so
// a body of any length holds one piece in memory and a slow client slows the producer.
class BodyStream {
 public:
  enum class Then {
    kMore,   // ask again after this piece
    kEnd,    // this piece is the last; the body ends well
    kAbort,  // the producer failed: the connection closes without the last chunk, so the client
             // sees a truncated body, never a short one that looks whole
  };
  // Takes a piece; callable from any thread, exactly once per Next.
  using Deliver = std::function<void(std::string piece, Then then)>;

  virtual ~BodyStream() = default;
  // Produces the next piece and hands it to `deliver`, now or later, from any thread.
  virtual void Next(Deliver deliver) = 0;
  // The client went away, or the server stops: no more Next calls will come, and a pending
  // Deliver should be called soon (its piece is dropped). Default: nothing to do.
  virtual void Cancel() {}
};

}  // namespace proofbook::server
