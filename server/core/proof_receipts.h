// ProofReceipts: the proofs the prover gateway has received and not yet delivered to the engine
// (they are being stored first), as the engine's ReceiptSource (matching/receipt_source.h): a
// Tick does not settle a miss for an assignment whose own prover's proof came in by its due
// time and is on its way in; the delivery, judged at its receipt time, decides. Marks are kept
// per (assignment, prover, receipt time), so bytes naming another prover's assignment, or bytes
// received late, defer nothing. Thread-safe: the gateway's threads mark and unmark, the engine
// thread asks.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <tuple>

#include "matching/receipt_source.h"
#include "matching/types.h"

namespace proofbook::server {

class ProofReceipts final : public matching::ReceiptSource {
 public:
  // Marks a proof of `prover` for `assignment` received at `received_at`; the mark lasts as
  // long as a copy of the returned token does (hold it until the engine has answered the
  // delivery, or the proof is dropped).
  std::shared_ptr<void> Receive(matching::AssignmentId assignment, matching::AccountId prover,
                                matching::Timestamp received_at);
  bool Receiving(matching::AssignmentId assignment, matching::AccountId prover,
                 matching::Timestamp due_at) const override;

 private:
  using Mark = std::tuple<matching::AssignmentId, matching::AccountId, matching::Timestamp>;
  void Drop(const Mark& mark);

  mutable std::mutex mu_;
  std::map<Mark, int> marks_;  // a resend may overlap the first
};

}  // namespace proofbook::server
