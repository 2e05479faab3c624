// ReceiptSource: which assignments' proofs the server has received but not yet delivered to the
// engine. A proof is stored in PostgreSQL before the engine hears of it (a crash must not lose an
// acknowledged delivery), so a proof received in time may reach the engine after its due time;
// a Tick that found the assignment past due would settle a miss the prover did not make. The
// engine asks this source before settling a miss at a due time: while the answer is yes, the
// miss waits (the due time is checked again at the next Tick) and the delivery, judged at its
// receipt time, decides.
//
// Contract:
//  - Receiving(a) is true only between the receipt of a's proof bytes and the delivery command
//    (or the proof's refusal, or a failed store: then false, and the next Tick settles the miss).
//  - Called on the engine thread only, at due times that have passed; the engine does not own
//    it. The answer changes no state of the engine: the same commands with every answer false
//    give the engine of a server without a gateway (tests, benchmarks).
#pragma once

#include "matching/types.h"

namespace proofbook::matching {

class ReceiptSource {
 public:
  virtual ~ReceiptSource() = default;
  virtual bool Receiving(AssignmentId assignment) const = 0;
};

}  // namespace proofbook::matching
