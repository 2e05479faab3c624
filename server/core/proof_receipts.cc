#include "server/core/proof_receipts.h"

namespace proofbook::server {

std::shared_ptr<void> ProofReceipts::Receive(matching::AssignmentId assignment) {
  {
    std::lock_guard lock(mu_);
    ++marks_[assignment];
  }
  class Token {
   public:
    Token(ProofReceipts* owner, matching::AssignmentId assignment)
        : owner_(owner), assignment_(assignment) {}
    Token(const Token&) = delete;
    Token& operator=(const Token&) = delete;
    ~Token() { owner_->Drop(assignment_); }

   private:
    ProofReceipts* owner_;
    matching::AssignmentId assignment_;
  };
  return std::make_shared<Token>(this, assignment);
}

bool ProofReceipts::Receiving(matching::AssignmentId assignment) const {
  std::lock_guard lock(mu_);
  return marks_.count(assignment) != 0;
}

void ProofReceipts::Drop(matching::AssignmentId assignment) {
  std::lock_guard lock(mu_);
  auto it = marks_.find(assignment);
  if (it != marks_.end() && --it->second == 0) marks_.erase(it);
}

}  // namespace proofbook::server
