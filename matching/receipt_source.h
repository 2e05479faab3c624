// ReceiptSource: which assignments' proofs the server has received but not yet delivered to the
// engine, with their prover and receipt time. A proof is stored in PostgreSQL before the engine
// hears of it (a crash must not lose an acknowledged delivery), so a proof received in time may
// reach the engine after its due time; a Tick that found the assignment past due would settle a
// miss the prover did not make. The engine asks this source before settling a miss at a due time:
// while a proof of the assignment's own prover, received by its due time, is on its way in, the
// miss waits (the due time is checked again at the next Tick) and the delivery, judged at its
// receipt time, decides. Another prover's bytes, or bytes received late, defer nothing.
//
// Contract:
//  - Receiving(a, prover, due_at) is true only between the receipt of proof bytes for `a` from
//    `prover` at a time <= due_at and the engine's answer to their delivery (or their refusal,
//    or a failed store: then false, and the next Tick settles the miss).
//  - Called on the engine thread only, at due times that have passed; the engine does not own
//    it. The answers are not journaled: recovery loads state, it does not replay commands.
//    Without a source (tests, benchmarks) every miss is settled at its due time.
#pragma once

#include "matching/types.h"

namespace proofbook::matching {

class ReceiptSource {
 public:
  virtual ~ReceiptSource() = default;
  virtual bool Receiving(AssignmentId assignment, AccountId prover, Timestamp due_at) const = 0;
};

}  // namespace proofbook::matching
