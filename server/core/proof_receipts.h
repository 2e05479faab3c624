// ProofReceipts: the proofs the prover gateway has received and not yet delivered to the engine
// (they are being stored first), as the engine's ReceiptSource (matching/receipt_source.h): a
// Tick does not settle a miss for an assignment whose proof is on its way in; the delivery,
// judged at its receipt time, decides. Thread-safe: the gateway's threads mark and unmark, the
// engine thread asks.
#pragma once

#include <memory>
#include <mutex>
#include <unordered_map>

#include "matching/receipt_source.h"
#include "matching/types.h"

namespace proofbook::server {

class ProofReceipts final : public matching::ReceiptSource {
 public:
  // Marks `assignment`'s proof as received; the mark lasts as long as a copy of the returned
  // token does (hold it until the engine has the delivery, or the proof is dropped).
  std::shared_ptr<void> Receive(matching::AssignmentId assignment);
  bool Receiving(matching::AssignmentId assignment) const override;

 private:
  void Drop(matching::AssignmentId assignment);

  mutable std::mutex mu_;
  std::unordered_map<matching::AssignmentId, int> marks_;  // a resend may overlap the first
};

}  // namespace proofbook::server
