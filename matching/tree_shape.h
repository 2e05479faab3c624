// TreeShape: the layout of a proof tree of `leaves` leaves and arity 2 (README "Proof trees"),
// and its cascading deadlines. Pure arithmetic, no state.
//
// Levels: level 0 holds the leaves; level l + 1 pairs the nodes of level l in order, (0, 1),
// (2, 3), ...; an odd last node is promoted unchanged (a node with one child: no merge, no
// price). The top level has one node, the root. A tree of N leaves has N - 1 merges.
// Node indices run level by level: the leaves are 0..N-1, then level 1, and so on.
//
// Cascading deadlines: from placement to the root's deadline, the leaves get leaf_share_bps of
// the time; the merge levels share the rest equally, each ending at its level's deadline (the
// top level's is the root's). A merge that can start early (its children done before its
// level's window) simply has longer.
#pragma once

#include <array>
#include <cstdint>

#include "matching/types.h"

namespace proofbook::matching {

class TreeShape {
 public:
  static constexpr int32_t kMaxLevels = 14;  // 4,096 leaves: 13 levels

  explicit TreeShape(int32_t leaves) {
    int32_t n = leaves < 1 ? 1 : leaves;
    int32_t start = 0;
    levels_ = 0;
    for (;;) {
      start_[levels_] = start;
      size_[levels_] = n;
      ++levels_;
      start += n;
      if (n == 1 || levels_ == kMaxLevels) break;
      n = (n + 1) / 2;
    }
    nodes_ = start;
  }

  int32_t levels() const { return levels_; }  // leaves included
  int32_t nodes() const { return nodes_; }
  int32_t root() const { return nodes_ - 1; }
  int32_t LevelSize(int32_t level) const { return size_[level]; }
  int32_t Node(int32_t level, int32_t pos) const { return start_[level] + pos; }
  int32_t LevelOf(int32_t node) const {
    int32_t l = 0;
    while (l + 1 < levels_ && node >= start_[l + 1]) ++l;
    return l;
  }
  int32_t PosOf(int32_t node) const { return node - start_[LevelOf(node)]; }
  // The other child of the node's parent; -1 when it has none (it will be promoted).
  int32_t Sibling(int32_t node) const {
    const int32_t l = LevelOf(node);
    const int32_t other = PosOf(node) ^ 1;
    return other < size_[l] ? Node(l, other) : -1;
  }
  int32_t Parent(int32_t node) const {
    const int32_t l = LevelOf(node);
    return l + 1 < levels_ ? Node(l + 1, PosOf(node) / 2) : -1;
  }
  // A node above the leaves with two children is a merge; with one, a promotion.
  bool IsMerge(int32_t node) const {
    const int32_t l = LevelOf(node);
    return l > 0 && 2 * PosOf(node) + 1 < size_[l - 1];
  }

  // The deadline of `level`'s nodes for a tree placed at `placed_at` with root deadline
  // `deadline`.
  static Timestamp LevelDeadline(int32_t level, int32_t levels, Timestamp placed_at,
                                 Timestamp deadline, int32_t leaf_share_bps) {
    if (levels <= 1) return deadline;
    const Timestamp leaf_end = placed_at + (deadline - placed_at) * leaf_share_bps / kBps;
    if (level == 0) return leaf_end;
    return leaf_end + (deadline - leaf_end) * level / (levels - 1);
  }

 private:
  std::array<int32_t, kMaxLevels> start_{};
  std::array<int32_t, kMaxLevels> size_{};
  int32_t levels_ = 0;
  int32_t nodes_ = 0;
};

}  // namespace proofbook::matching
