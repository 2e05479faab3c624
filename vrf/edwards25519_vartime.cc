// Formulas: RFC 8032 5.1.2-5.1.3 (encoding), Hisil-Wong-Carter-Dawson 2008 for a = -1
// ("add-2008-hwcd-3", "dbl-2008-hwcd" in the Explicit-Formulas Database), the 2^255-19 field
// with 51-bit limbs and the inversion and square-root chains as in ref10, and ref10's signed
// sliding window ("slide") for the double-scalar multiplication.
#include "vrf/edwards25519_vartime.h"

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
Fe Carry(Fe h) {
  uint64_t c;
  c = h.v[0] >> 51, h.v[0] &= kMask, h.v[1] += c;
  c = h.v[1] >> 51, h.v[1] &= kMask, h.v[2] += c;
  c = h.v[2] >> 51, h.v[2] &= kMask, h.v[3] += c;
  c = h.v[3] >> 51, h.v[3] &= kMask, h.v[4] += c;
  c = h.v[4] >> 51, h.v[4] &= kMask, h.v[0] += 19 * c;
  return h;
}

Fe Add(const Fe& a, const Fe& b) {
  Fe r;
  for (int i = 0; i < 5; ++i) r.v[i] = a.v[i] + b.v[i];
  return Carry(r);
}

// a - b + 4p, so that no limb goes below zero for weakly reduced b.
Fe Sub(const Fe& a, const Fe& b) {
  constexpr uint64_t k4p0 = 4 * (kMask - 18), k4p = 4 * kMask;
  Fe r;
  r.v[0] = a.v[0] + k4p0 - b.v[0];
  for (int i = 1; i < 5; ++i) r.v[i] = a.v[i] + k4p - b.v[i];
  return Carry(r);
}

Fe Neg(const Fe& a) { return Sub(kZero, a); }

Fe Mul(const Fe& a, const Fe& b) {
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
  r1 += r0 >> 51;
  r2 += r1 >> 51;
  r3 += r2 >> 51;
  r4 += r3 >> 51;
  // The wrap: 2^255 = 19 (mod p), done in 128 bits so no product size can overflow it.
  U128 w0 = (r0 & kMask) + (r4 >> 51) * 19;
  Fe r;
  r.v[0] = static_cast<uint64_t>(w0 & kMask);
  r.v[1] = static_cast<uint64_t>(r1 & kMask) + static_cast<uint64_t>(w0 >> 51);
  r.v[2] = static_cast<uint64_t>(r2 & kMask);
  r.v[3] = static_cast<uint64_t>(r3 & kMask);
  r.v[4] = static_cast<uint64_t>(r4 & kMask);
  return r;
}

Fe Sq(const Fe& a) { return Mul(a, a); }

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

// ref10's slide: signed digits in {0, +-1, +-3, ..., +-15}, at most one nonzero in any 6
// consecutive positions; sum r[i] 2^i = a. a must be below 2^255.
void Slide(int8_t r[256], const Bytes32& a) {
  for (int i = 0; i < 256; ++i)
    r[i] = static_cast<int8_t>(1 & (a[static_cast<std::size_t>(i >> 3)] >> (i & 7)));
  for (int i = 0; i < 256; ++i) {
    if (!r[i]) continue;
    for (int b = 1; b <= 6 && i + b < 256; ++b) {
      if (!r[i + b]) continue;
      if (r[i] + (r[i + b] << b) <= 15) {
        r[i] = static_cast<int8_t>(r[i] + (r[i + b] << b));
        r[i + b] = 0;
      } else if (r[i] - (r[i + b] << b) >= -15) {
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

struct OddMultiples {
  Point p[8];    // P, 3P, ..., 15P
  Point neg[8];  // their negations
};

OddMultiples MakeOddMultiples(const Point& p) {
  OddMultiples t;
  const Point p2 = Double(p);
  t.p[0] = p;
  for (int i = 1; i < 8; ++i) t.p[i] = Add(t.p[i - 1], p2);
  for (int i = 0; i < 8; ++i) t.neg[i] = Negate(t.p[i]);
  return t;
}

const OddMultiples& BaseMultiples() {
  static const OddMultiples table = [] {
    // The base point's encoding: y = 4/5, x positive (RFC 8032, 5.1).
    Bytes32 b;
    b.fill(0x66);
    b[0] = 0x58;
    return MakeOddMultiples(*Decode(b));
  }();
  return table;
}

Point TwoTables(const Bytes32& a, const OddMultiples& ta, const Bytes32& b,
                const OddMultiples& tb) {
  int8_t sa[256], sb[256];
  Slide(sa, a);
  Slide(sb, b);
  int i = 255;
  while (i >= 0 && !sa[i] && !sb[i]) --i;
  Point r = Identity();
  for (; i >= 0; --i) {
    r = Double(r);
    if (sa[i] > 0) r = Add(r, ta.p[sa[i] / 2]);
    if (sa[i] < 0) r = Add(r, ta.neg[-sa[i] / 2]);
    if (sb[i] > 0) r = Add(r, tb.p[sb[i] / 2]);
    if (sb[i] < 0) r = Add(r, tb.neg[-sb[i] / 2]);
  }
  return r;
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

Bytes32 Encode(const Point& p) {
  const Fe zi = Invert(p.z);
  const Fe x = Mul(p.x, zi);
  Bytes32 s = ToBytes(Mul(p.y, zi));
  s[31] = static_cast<uint8_t>(s[31] | (IsNegative(x) ? 0x80 : 0));
  return s;
}

Point Add(const Point& p, const Point& q) {
  const Fe a = Mul(Sub(p.y, p.x), Sub(q.y, q.x));
  const Fe b = Mul(Add(p.y, p.x), Add(q.y, q.x));
  const Fe c = Mul(Mul(p.t, kD2), q.t);
  const Fe d = Mul(Add(p.z, p.z), q.z);
  const Fe e = Sub(b, a), f = Sub(d, c), g = Add(d, c), h = Add(b, a);
  return Point{Mul(e, f), Mul(g, h), Mul(f, g), Mul(e, h)};
}

Point Double(const Point& p) {
  const Fe a = Sq(p.x);
  const Fe b = Sq(p.y);
  const Fe z2 = Sq(p.z);
  const Fe c = Add(z2, z2);
  const Fe e = Sub(Sub(Sq(Add(p.x, p.y)), a), b);
  const Fe g = Sub(b, a);  // D + B with D = -A
  const Fe f = Sub(g, c);
  const Fe h = Neg(Add(a, b));  // D - B
  return Point{Mul(e, f), Mul(g, h), Mul(f, g), Mul(e, h)};
}

Point Negate(const Point& p) { return Point{Neg(p.x), p.y, p.z, Neg(p.t)}; }

Point TimesCofactor(const Point& p) { return Double(Double(Double(p))); }

bool IsIdentity(const Point& p) { return IsZero(p.x) && Equal(p.y, p.z); }

Point DoubleScalarMulBase(const Bytes32& a, const Bytes32& b, const Point& q) {
  return TwoTables(a, BaseMultiples(), b, MakeOddMultiples(q));
}

Point DoubleScalarMul(const Bytes32& a, const Point& p, const Bytes32& b, const Point& q) {
  return TwoTables(a, MakeOddMultiples(p), b, MakeOddMultiples(q));
}

}  // namespace proofbook::vrf::vartime
