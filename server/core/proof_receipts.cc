#include "server/core/proof_receipts.h"

namespace proofbook::server {

std::shared_ptr<void> ProofReceipts::Receive(matching::AssignmentId assignment,
                                             matching::AccountId prover,
                                             matching::Timestamp received_at) {
  const Mark mark{assignment, prover, received_at};
  {
    std::lock_guard lock(mu_);
    ++marks_[mark];
  }
  class Token {
   public:
    Token(ProofReceipts* owner, Mark mark) : owner_(owner), mark_(mark) {}
    Token(const Token&) = delete;
    Token& operator=(const Token&) = delete;
    ~Token() { owner_->Drop(mark_); }

   private:
    ProofReceipts* owner_;
    Mark mark_;
  };
  return std::make_shared<Token>(this, mark);
}

bool ProofReceipts::Receiving(matching::AssignmentId assignment, matching::AccountId prover,
                              matching::Timestamp due_at) const {
  std::lock_guard lock(mu_);
  // The marks of (assignment, prover), by receipt time: the earliest decides.
  auto it = marks_.lower_bound(Mark{assignment, prover, 0});
  return it != marks_.end() && std::get<0>(it->first) == assignment &&
         std::get<1>(it->first) == prover && std::get<2>(it->first) <= due_at;
}

void ProofReceipts::Drop(const Mark& mark) {
  std::lock_guard lock(mu_);
  auto it = marks_.find(mark);
  if (it != marks_.end() && --it->second == 0) marks_.erase(it);
}

}  // namespace proofbook::server
