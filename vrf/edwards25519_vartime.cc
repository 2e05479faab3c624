// Formulas: RFC 8032 5.1.2-5.1.3 (encoding), Hisil-Wong-Carter-Dawson 2008 for a = -1
// ("add-2008-hwcd-3", "dbl-2008-hwcd" in the Explicit-Formulas Database), the 2^255-19 field
// with 51-bit limbs and the inversion and square-root chains as in ref10, and ref10's signed
// sliding window ("slide") for the double-scalar multiplication.
#include "vrf/edwards25519_vartime.h"

#include <algorithm>
#include <cstring>

namespace proofbook::vrf::vartime {
namespace {

__extension__ using U128 = unsigned __int128;
constexpr uint64_t kMask = (uint64_t{1} << 51) - 1;

// d = -121665/121666, 2d and sqrt(-1), in limbs.
constexpr Fe kD = {
    {0x34dca135978a3, 0x1a8283b156ebd, 0x5e7a26001c029, 0x739c663a03cbb, 0x52036cee2b6ff}};
constexpr Fe kD2 = {
    {0x69b9426b2f159, 0x35050762add7a, 0x3cf44c0038052, 0x6738cc7407977, 0x2406d9dc56dff}};
constexpr Fe kSqrtM1 = {
    {0x61b274a0ea0b0, 0xd5a5fc8f189d, 0x7ef5e9cbd0c60, 0x78595a6804c9e, 0x2b8324804fc1d}};
constexpr Fe kZero = {{0, 0, 0, 0, 0}};
constexpr Fe kOne = {{1, 0, 0, 0, 0}};

// One carry pass: every limb below 2^51 but the first, which may exceed it by 19 * 2^13.
[[gnu::always_inline]] inline Fe Carry(Fe h) {
  uint64_t c;
  c = h.v[0] >> 51, h.v[0] &= kMask, h.v[1] += c;
  c = h.v[1] >> 51, h.v[1] &= kMask, h.v[2] += c;
  c = h.v[2] >> 51, h.v[2] &= kMask, h.v[3] += c;
  c = h.v[3] >> 51, h.v[3] &= kMask, h.v[4] += c;
  c = h.v[4] >> 51, h.v[4] &= kMask, h.v[0] += 19 * c;
  return h;
}

[[gnu::always_inline]] inline Fe Add(const Fe& a, const Fe& b) {
  Fe r;
  for (int i = 0; i < 5; ++i) r.v[i] = a.v[i] + b.v[i];
  return Carry(r);
}

// a - b + 4p, so that no limb goes below zero for weakly reduced b.
[[gnu::always_inline]] inline Fe Sub(const Fe& a, const Fe& b) {
  constexpr uint64_t k4p0 = 4 * (kMask - 18), k4p = 4 * kMask;
  Fe r;
  r.v[0] = a.v[0] + k4p0 - b.v[0];
  for (int i = 1; i < 5; ++i) r.v[i] = a.v[i] + k4p - b.v[i];
  return Carry(r);
}

Fe Neg(const Fe& a) { return Sub(kZero, a); }

// Without the carry pass, for values that only go into Mul or Sq: Mul and Sq take limbs up to
// 2^54 (no column passes 2^115, and the wrap's (r4 >> 51) * 19 stays below 2^64). Sums of two
// weakly reduced values are below 2^52.1; a + 4p - b is below 2^53.7 for a weakly reduced and b
// below 4p's limbs (~2^53).
[[gnu::always_inline]] inline Fe AddLoose(const Fe& a, const Fe& b) {
  Fe r;
  for (int i = 0; i < 5; ++i) r.v[i] = a.v[i] + b.v[i];
  return r;
}
[[gnu::always_inline]] inline Fe SubLoose(const Fe& a, const Fe& b) {
  constexpr uint64_t k4p0 = 4 * (kMask - 18), k4p = 4 * kMask;
  Fe r;
  r.v[0] = a.v[0] + k4p0 - b.v[0];
  for (int i = 1; i < 5; ++i) r.v[i] = a.v[i] + k4p - b.v[i];
  return r;
}

// The product's five 128-bit columns back to weakly reduced limbs.
[[gnu::always_inline]] inline Fe Reduce(U128 r0, U128 r1, U128 r2, U128 r3, U128 r4) {
  r1 += static_cast<uint64_t>(r0 >> 51);
  r2 += static_cast<uint64_t>(r1 >> 51);
  r3 += static_cast<uint64_t>(r2 >> 51);
  r4 += static_cast<uint64_t>(r3 >> 51);
  // The wrap: 2^255 = 19 (mod p). r4 >> 51 is below 2^64 / 19 for any product of weakly
  // reduced limbs, so the wrap fits 64 bits.
  uint64_t w0 = (static_cast<uint64_t>(r0) & kMask) + static_cast<uint64_t>(r4 >> 51) * 19;
  Fe r;
  r.v[0] = w0 & kMask;
  r.v[1] = (static_cast<uint64_t>(r1) & kMask) + (w0 >> 51);
  r.v[2] = static_cast<uint64_t>(r2) & kMask;
  r.v[3] = static_cast<uint64_t>(r3) & kMask;
  r.v[4] = static_cast<uint64_t>(r4) & kMask;
  return r;
}

[[gnu::always_inline]] inline Fe Mul(const Fe& a, const Fe& b) {
  const uint64_t b1 = 19 * b.v[1], b2 = 19 * b.v[2], b3 = 19 * b.v[3], b4 = 19 * b.v[4];
  U128 r0 = (U128)a.v[0] * b.v[0] + (U128)a.v[1] * b4 + (U128)a.v[2] * b3 + (U128)a.v[3] * b2 +
            (U128)a.v[4] * b1;
  U128 r1 = (U128)a.v[0] * b.v[1] + (U128)a.v[1] * b.v[0] + (U128)a.v[2] * b4 + (U128)a.v[3] * b3 +
            (U128)a.v[4] * b2;
  U128 r2 = (U128)a.v[0] * b.v[2] + (U128)a.v[1] * b.v[1] + (U128)a.v[2] * b.v[0] +
            (U128)a.v[3] * b4 + (U128)a.v[4] * b3;
  U128 r3 = (U128)a.v[0] * b.v[3] + (U128)a.v[1] * b.v[2] + (U128)a.v[2] * b.v[1] +
            (U128)a.v[3] * b.v[0] + (U128)a.v[4] * b4;
  U128 r4 = (U128)a.v[0] * b.v[4] + (U128)a.v[1] * b.v[3] + (U128)a.v[2] * b.v[2] +
            (U128)a.v[3] * b.v[1] + (U128)a.v[4] * b.v[0];
  return Reduce(r0, r1, r2, r3, r4);
}

// 15 products instead of 25: each cross term once, doubled.
[[gnu::always_inline]] inline Fe Sq(const Fe& a) {
  const uint64_t a0 = a.v[0], a1 = a.v[1], a2 = a.v[2], a3 = a.v[3], a4 = a.v[4];
  const uint64_t a0_2 = 2 * a0, a1_2 = 2 * a1, a2_2 = 2 * a2, a3_2 = 2 * a3;
  const uint64_t a3_19 = 19 * a3, a4_19 = 19 * a4;
  U128 r0 = (U128)a0 * a0 + (U128)a1_2 * a4_19 + (U128)a2_2 * a3_19;
  U128 r1 = (U128)a0_2 * a1 + (U128)a2_2 * a4_19 + (U128)a3 * a3_19;
  U128 r2 = (U128)a0_2 * a2 + (U128)a1 * a1 + (U128)a3_2 * a4_19;
  U128 r3 = (U128)a0_2 * a3 + (U128)a1_2 * a2 + (U128)a4 * a4_19;
  U128 r4 = (U128)a0_2 * a4 + (U128)a1_2 * a3 + (U128)a2 * a2;
  return Reduce(r0, r1, r2, r3, r4);
}

Fe SqTimes(Fe a, int n) {
  while (n-- > 0) a = Sq(a);
  return a;
}

// z^(2^250 - 1) and z^11, the shared start of inversion and the square root.
void Pow250(const Fe& z, Fe& z250, Fe& z11) {
  Fe t0 = Sq(z);                            // 2
  Fe t1 = Mul(z, SqTimes(t0, 2));           // 9
  z11 = Mul(t0, t1);                        // 11
  Fe t = Mul(t1, Sq(z11));                  // 31 = 2^5 - 1
  Fe t10 = Mul(SqTimes(t, 5), t);           // 2^10 - 1
  Fe t20 = Mul(SqTimes(t10, 10), t10);      // 2^20 - 1
  Fe t40 = Mul(SqTimes(t20, 20), t20);      // 2^40 - 1
  Fe t50 = Mul(SqTimes(t40, 10), t10);      // 2^50 - 1
  Fe t100 = Mul(SqTimes(t50, 50), t50);     // 2^100 - 1
  Fe t200 = Mul(SqTimes(t100, 100), t100);  // 2^200 - 1
  z250 = Mul(SqTimes(t200, 50), t50);       // 2^250 - 1
}

Fe Invert(const Fe& z) {  // z^(p - 2) = z^(2^255 - 21)
  Fe z250, z11;
  Pow250(z, z250, z11);
  return Mul(SqTimes(z250, 5), z11);
}

Fe Pow22523(const Fe& z) {  // z^((p - 5) / 8) = z^(2^252 - 3)
  Fe z250, z11;
  Pow250(z, z250, z11);
  return Mul(SqTimes(z250, 2), z);
}

Fe FromBytes(const uint8_t* s) {
  uint64_t w[4];
  std::memcpy(w, s, 32);  // little-endian machine (x86-64, arm64)
  Fe h;
  h.v[0] = w[0] & kMask;
  h.v[1] = ((w[0] >> 51) | (w[1] << 13)) & kMask;
  h.v[2] = ((w[1] >> 38) | (w[2] << 26)) & kMask;
  h.v[3] = ((w[2] >> 25) | (w[3] << 39)) & kMask;
  h.v[4] = (w[3] >> 12) & kMask;  // bit 255 ignored
  return h;
}

// The unique representative in [0, p), as 32 bytes.
Bytes32 ToBytes(const Fe& f) {
  Fe t = Carry(Carry(f));
  // t < 2^255 + small; add 19 and see whether that reaches 2^255 (then t >= p).
  Fe q = t;
  q.v[0] += 19;
  uint64_t c = q.v[0] >> 51;
  for (int i = 1; i < 5; ++i) c = (q.v[i] + c) >> 51;
  // c is 1 when t >= p: subtract p (add 19, drop 2^255).
  t.v[0] += 19 * c;
  for (int i = 0; i < 4; ++i) {
    t.v[i + 1] += t.v[i] >> 51;
    t.v[i] &= kMask;
  }
  t.v[4] &= kMask;
  uint64_t w[4];
  w[0] = t.v[0] | (t.v[1] << 51);
  w[1] = (t.v[1] >> 13) | (t.v[2] << 38);
  w[2] = (t.v[2] >> 26) | (t.v[3] << 25);
  w[3] = (t.v[3] >> 39) | (t.v[4] << 12);
  Bytes32 out;
  std::memcpy(out.data(), w, 32);
  return out;
}

bool IsZero(const Fe& f) {
  Bytes32 b = ToBytes(f);
  for (uint8_t x : b) {
    if (x != 0) return false;
  }
  return true;
}
bool Equal(const Fe& a, const Fe& b) { return ToBytes(a) == ToBytes(b); }
bool IsNegative(const Fe& f) { return ToBytes(f)[0] & 1; }

// ref10's slide for a window of w bits (w = 5 in ref10): signed odd digits of magnitude at most
// 2^(w-1) - 1, or 0, at most one nonzero in any w consecutive positions; sum r[i] 2^i = a.
// a must be below 2^255 (a carry out of bit 255 would be lost).
void Slide(int8_t r[256], const Bytes32& a, int w) {
  const int max = (1 << (w - 1)) - 1;
  for (int i = 0; i < 256; ++i)
    r[i] = static_cast<int8_t>(1 & (a[static_cast<std::size_t>(i >> 3)] >> (i & 7)));
  for (int i = 0; i < 256; ++i) {
    if (!r[i]) continue;
    for (int b = 1; b <= w + 1 && i + b < 256; ++b) {
      if (!r[i + b]) continue;
      if (r[i] + (r[i + b] << b) <= max) {
        r[i] = static_cast<int8_t>(r[i] + (r[i + b] << b));
        r[i + b] = 0;
      } else if (r[i] - (r[i + b] << b) >= -max) {
        r[i] = static_cast<int8_t>(r[i] - (r[i + b] << b));
        for (int k = i + b; k < 256; ++k) {
          if (!r[k]) {
            r[k] = 1;
            break;
          }
          r[k] = 0;
        }
      } else {
        break;
      }
    }
  }
}

// The other coordinate systems of ref10 (and of the HWCD paper):
// - P2 (X:Y:Z), all a doubling needs;
// - Completed ((E:F), (G:H)), what an addition or doubling yields before its last
//   multiplications: as P3 (E F : G H : F G : E H), as P2 without E H. Doublings that follow
//   doublings skip T this way (3 multiplications instead of 4);
// - Cached (Y+X, Y-X, 2Z, 2dT): an addend prepared once for the many additions of a table.
struct P2 {
  Fe x, y, z;
};
struct Completed {
  Fe e, f, g, h;
};
struct Cached {
  Fe ypx, ymx, z2, t2d;
};

P2 ToP2(const Completed& c) { return P2{Mul(c.e, c.f), Mul(c.g, c.h), Mul(c.f, c.g)}; }
Point ToP3(const Completed& c) {
  return Point{Mul(c.e, c.f), Mul(c.g, c.h), Mul(c.f, c.g), Mul(c.e, c.h)};
}
// Completed and Cached values only ever go into Mul: they are kept loose (no carry pass).
Cached ToCached(const Point& p) {
  return Cached{AddLoose(p.y, p.x), SubLoose(p.y, p.x), AddLoose(p.z, p.z), Mul(p.t, kD2)};
}

// "dbl-2008-hwcd" for a = -1.
Completed Dbl(const P2& p) {
  const Fe a = Sq(p.x);
  const Fe b = Sq(p.y);
  const Fe z2 = Sq(p.z);
  const Fe c = AddLoose(z2, z2);
  const Fe g = Sub(b, a);  // D + B with D = -A; carried: it is also SubLoose's first operand
  return Completed{SubLoose(Sub(Sq(AddLoose(p.x, p.y)), a), b), SubLoose(g, c), g,
                   SubLoose(kZero, AddLoose(a, b))};
}

// "add-2008-hwcd-3": p + q, and p - q (q negated: Y+X and Y-X swap, T changes sign).
Completed AddCached(const Point& p, const Cached& q) {
  const Fe a = Mul(SubLoose(p.y, p.x), q.ymx);
  const Fe b = Mul(AddLoose(p.y, p.x), q.ypx);
  const Fe c = Mul(p.t, q.t2d);
  const Fe d = Mul(p.z, q.z2);
  return Completed{SubLoose(b, a), SubLoose(d, c), AddLoose(d, c), AddLoose(b, a)};
}
Completed SubCached(const Point& p, const Cached& q) {
  const Fe a = Mul(SubLoose(p.y, p.x), q.ypx);
  const Fe b = Mul(AddLoose(p.y, p.x), q.ymx);
  const Fe c = Mul(p.t, q.t2d);
  const Fe d = Mul(p.z, q.z2);
  return Completed{SubLoose(b, a), AddLoose(d, c), SubLoose(d, c), AddLoose(b, a)};
}

Completed DblP3(const Point& p) { return Dbl(P2{p.x, p.y, p.z}); }

// P, 3P, 5P, ..., (2n - 1)P: the table of a window of w bits has n = 2^(w-2) entries.
template <int N>
struct OddMultiples {
  Cached p[N];
};

template <int N>
OddMultiples<N> MakeOddMultiples(const Point& p) {
  OddMultiples<N> t;
  const Cached twice = ToCached(ToP3(DblP3(p)));
  Point cur = p;
  t.p[0] = ToCached(cur);
  for (int i = 1; i < N; ++i) {
    cur = ToP3(AddCached(cur, twice));
    t.p[i] = ToCached(cur);
  }
  return t;
}

constexpr int kWindow = 5;      // variable points: 8 entries, built per call
constexpr int kBaseWindow = 7;  // the base point: 32 entries, built once
constexpr int kEntries = 1 << (kWindow - 2);
constexpr int kBaseEntries = 1 << (kBaseWindow - 2);

Point DecodeBase() {
  // The base point's encoding: y = 4/5, x positive (RFC 8032, 5.1).
  Bytes32 b;
  b.fill(0x66);
  b[0] = 0x58;
  return *Decode(b);
}

// B and 2^128 B: a*B = a_lo*B + a_hi*(2^128 B) with a_lo, a_hi below 2^128, so that a*B + c*Q
// with a 128-bit c (ECVRF's challenge) runs 128 doublings instead of 253.
struct BaseTables {
  OddMultiples<kBaseEntries> low, high;
};

const BaseTables& Base() {
  static const BaseTables tables = [] {
    BaseTables t;
    Point b = DecodeBase();
    t.low = MakeOddMultiples<kBaseEntries>(b);
    Completed c = DblP3(b);
    for (int i = 1; i < 128; ++i) c = Dbl(ToP2(c));
    t.high = MakeOddMultiples<kBaseEntries>(ToP3(c));
    return t;
  }();
  return tables;
}

struct Term {
  int8_t digits[256];
  const Cached* table;
};

// sum of digits(term) * its point, by Straus: one run of doublings shared by all terms.
Point MultiScalar(Term* terms, int count) {
  int i = 255;
  auto any = [&](int k) {
    for (int j = 0; j < count; ++j) {
      if (terms[j].digits[k]) return true;
    }
    return false;
  };
  while (i >= 0 && !any(i)) --i;
  if (i < 0) return Identity();
  P2 r{kZero, kOne, kOne};
  for (;; --i) {
    Completed t = Dbl(r);
    for (int j = 0; j < count; ++j) {
      const int d = terms[j].digits[i];
      if (d > 0) t = AddCached(ToP3(t), terms[j].table[d / 2]);
      if (d < 0) t = SubCached(ToP3(t), terms[j].table[-d / 2]);
    }
    if (i == 0) return ToP3(t);
    r = ToP2(t);
  }
}

}  // namespace

Point Identity() { return Point{kZero, kOne, kOne, kZero}; }

std::optional<Point> Decode(const Bytes32& s) {
  // y < p: refuse 2^255 - 19 ... 2^255 - 1 (sign bit aside).
  bool high_ones = (s[31] & 0x7f) == 0x7f;
  for (int i = 30; i > 0 && high_ones; --i) high_ones = s[static_cast<std::size_t>(i)] == 0xff;
  if (high_ones && s[0] >= 0xed) return std::nullopt;
  const bool sign = s[31] >> 7;
  Point p;
  p.y = FromBytes(s.data());
  p.z = kOne;
  const Fe y2 = Sq(p.y);
  const Fe u = Sub(y2, kOne);           // y^2 - 1
  const Fe v = Add(Mul(kD, y2), kOne);  // d y^2 + 1
  const Fe v3 = Mul(Sq(v), v);
  Fe x = Mul(Mul(u, v3), Pow22523(Mul(u, Mul(Sq(v3), v))));  // u v^3 (u v^7)^((p-5)/8)
  const Fe vx2 = Mul(v, Sq(x));
  if (!Equal(vx2, u)) {
    if (!Equal(vx2, Neg(u))) return std::nullopt;  // not on the curve
    x = Mul(x, kSqrtM1);
  }
  const bool x_zero = IsZero(x);
  if (x_zero && sign) return std::nullopt;  // non-canonical encoding of x = 0
  if (!x_zero && IsNegative(x) != sign) x = Neg(x);
  p.x = x;
  p.t = Mul(x, p.y);
  return p;
}

namespace {
Bytes32 EncodeWith(const Point& p, const Fe& zi) {
  const Fe x = Mul(p.x, zi);
  Bytes32 s = ToBytes(Mul(p.y, zi));
  s[31] = static_cast<uint8_t>(s[31] | (IsNegative(x) ? 0x80 : 0));
  return s;
}
}  // namespace

Bytes32 Encode(const Point& p) { return EncodeWith(p, Invert(p.z)); }

void EncodeBatch(std::span<const Point> in, std::span<Bytes32> out) {
  // Montgomery's trick: one inversion of the product of all Z, then 3 multiplications a point.
  const std::size_t n = std::min(in.size(), out.size());
  if (n == 0) return;
  Fe prefix[kMaxEncodeBatch];
  if (n > kMaxEncodeBatch) {
    for (std::size_t i = 0; i < n; ++i) out[i] = Encode(in[i]);
    return;
  }
  prefix[0] = in[0].z;
  for (std::size_t i = 1; i < n; ++i) prefix[i] = Mul(prefix[i - 1], in[i].z);
  Fe inv = Invert(prefix[n - 1]);  // 1 / (z_0 ... z_{n-1})
  for (std::size_t i = n - 1; i > 0; --i) {
    out[i] = EncodeWith(in[i], Mul(inv, prefix[i - 1]));  // 1 / z_i
    inv = Mul(inv, in[i].z);                              // 1 / (z_0 ... z_{i-1})
  }
  out[0] = EncodeWith(in[0], inv);
}

Point Add(const Point& p, const Point& q) { return ToP3(AddCached(p, ToCached(q))); }

Point Double(const Point& p) { return ToP3(DblP3(p)); }

Point Negate(const Point& p) { return Point{Neg(p.x), p.y, p.z, Neg(p.t)}; }

Point TimesCofactor(const Point& p) { return ToP3(Dbl(ToP2(Dbl(ToP2(DblP3(p)))))); }

bool IsIdentity(const Point& p) { return IsZero(p.x) && Equal(p.y, p.z); }

Point DoubleScalarMulBase(const Bytes32& a, const Bytes32& b, const Point& q) {
  const BaseTables& base = Base();
  Bytes32 a_low{}, a_high{};
  std::memcpy(a_low.data(), a.data(), 16);
  std::memcpy(a_high.data(), a.data() + 16, 16);
  const OddMultiples<kEntries> tq = MakeOddMultiples<kEntries>(q);
  Term terms[3];
  Slide(terms[0].digits, a_low, kBaseWindow);
  terms[0].table = base.low.p;
  Slide(terms[1].digits, a_high, kBaseWindow);
  terms[1].table = base.high.p;
  Slide(terms[2].digits, b, kWindow);
  terms[2].table = tq.p;
  return MultiScalar(terms, 3);
}

Point DoubleScalarMul(const Bytes32& a, const Point& p, const Bytes32& b, const Point& q) {
  const OddMultiples<kEntries> tp = MakeOddMultiples<kEntries>(p);
  const OddMultiples<kEntries> tq = MakeOddMultiples<kEntries>(q);
  Term terms[2];
  Slide(terms[0].digits, a, kWindow);
  terms[0].table = tp.p;
  Slide(terms[1].digits, b, kWindow);
  terms[1].table = tq.p;
  return MultiScalar(terms, 2);
}

}  // namespace proofbook::vrf::vartime
