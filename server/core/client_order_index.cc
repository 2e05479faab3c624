#include "server/core/client_order_index.h"

#include <functional>
#include <limits>
#include <utility>

namespace proofbook::server {

int64_t ClientOrderIndex::Hash(matching::AccountId account, std::string_view client_id) {
  uint64_t h = std::hash<std::string_view>{}(client_id) ^
               (static_cast<uint64_t>(account) * 0x9e3779b97f4a7c15ULL);
  // FlatIdMap reserves INT64_MIN and INT64_MIN + 1.
  if (static_cast<int64_t>(h) <= std::numeric_limits<int64_t>::min() + 1) h = 0;
  return static_cast<int64_t>(h);
}

ClientOrderIndex::Entry* ClientOrderIndex::FindMutable(int64_t hash, matching::AccountId account,
                                                       std::string_view client_id) {
  for (uint32_t i = heads_.Find(hash); i != matching::kNil;) {
    Entry& e = entries_[i];
    if (e.account == account && e.client_id == client_id) return &e;
    if (e.next == 0) break;
    i = e.next - 1;
  }
  return nullptr;
}

const ClientOrderIndex::Entry* ClientOrderIndex::Find(matching::AccountId account,
                                                      std::string_view client_id) const {
  return const_cast<ClientOrderIndex*>(this)->FindMutable(hash_(account, client_id), account,
                                                          client_id);
}

void ClientOrderIndex::Insert(matching::AccountId account, std::string_view client_id,
                              matching::OrderId order,
                              const std::optional<Sha256Digest>& request_sha256) {
  const int64_t hash = hash_(account, client_id);
  if (Entry* e = FindMutable(hash, account, client_id)) {
    e->order = order;
    e->request_sha256 = request_sha256;
    return;
  }
  const uint32_t head = heads_.Find(hash);
  const auto index = static_cast<uint32_t>(entries_.size());
  Entry& e = entries_.emplace_back();
  e.account = account;
  e.client_id = client_id;
  e.order = order;
  e.request_sha256 = request_sha256;
  e.next = head == matching::kNil ? 0 : head + 1;
  heads_.Insert(hash, index);
}

void ClientOrderIndex::Reserve(size_t n) {
  if (entries_.empty()) heads_ = matching::FlatIdMap(n);
  entries_.reserve(n);
}

void ClientOrderIndex::Clear() {
  heads_ = matching::FlatIdMap();
  entries_.clear();
}

}  // namespace proofbook::server
