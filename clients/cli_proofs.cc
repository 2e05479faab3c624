#include "clients/cli_proofs.h"

#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "clients/common/hex.h"

namespace proofbook::cli {

namespace json = boost::json;

Expected<std::string> DecodeBase64(const std::string& text) {
  const CliError bad{kExitFailure, "a proof's data_base64 is not valid base64"};
  if (text.size() % 4 != 0) return bad;
  std::string out(text.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()),
                          static_cast<int>(text.size()));
  if (n < 0) return bad;
  // EVP_DecodeBlock counts the padding as zero bytes.
  std::size_t padding = 0;
  if (!text.empty() && text.back() == '=') ++padding;
  if (text.size() >= 2 && text[text.size() - 2] == '=') ++padding;
  out.resize(static_cast<std::size_t>(n) - padding);
  return out;
}

namespace {

Outcome WriteWhole(const std::string& path, const std::string& bytes) {
  std::string temp = path + ".tmp-" + std::to_string(::getpid());
  {
    std::ofstream f(temp, std::ios::binary | std::ios::trunc);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    f.close();
    if (!f) {
      std::remove(temp.c_str());
      return CliError{kExitFailure, "cannot write " + path + ": " + std::strerror(errno)};
    }
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    int error = errno;
    std::remove(temp.c_str());
    return CliError{kExitFailure, "cannot write " + path + ": " + std::strerror(error)};
  }
  return Done{};
}

}  // namespace

Expected<std::vector<SavedProof>> SaveProofs(const json::array& proofs, const std::string& out) {
  std::vector<SavedProof> saved;
  std::vector<std::string> bytes;
  for (const auto& item : proofs) {
    const json::object* p = item.if_object();
    const CliError malformed{kExitFailure, "the server's proof list is malformed"};
    if (p == nullptr) return malformed;
    const json::value* data = p->if_contains("data_base64");
    const json::value* sha = p->if_contains("sha256");
    const json::value* size = p->if_contains("size");
    if (data == nullptr || !data->is_string() || sha == nullptr || !sha->is_string() ||
        size == nullptr || !size->is_int64()) {
      return malformed;
    }
    SavedProof s;
    s.sha256 = std::string(sha->as_string());
    s.size = size->as_int64();
    if (auto* a = p->if_contains("assignment"); a != nullptr && a->is_int64())
      s.assignment = a->as_int64();
    if (auto* v = p->if_contains("prover"); v != nullptr && v->is_int64()) s.prover = v->as_int64();
    auto decoded = DecodeBase64(std::string(data->as_string()));
    if (!decoded) return decoded.error();
    const std::string what = "the proof of assignment " + std::to_string(s.assignment);
    if (static_cast<int64_t>(decoded->size()) != s.size) {
      return CliError{kExitFailure, what + " has " + std::to_string(decoded->size()) +
                                        " bytes, the server said " + std::to_string(s.size)};
    }
    if (clients::Sha256Hex(*decoded) != s.sha256) {
      return CliError{kExitFailure, what + " does not match its sha256 " + s.sha256};
    }
    bytes.push_back(std::move(*decoded));
    saved.push_back(std::move(s));
  }
  for (std::size_t i = 0; i < saved.size(); ++i) {
    saved[i].path = saved.size() == 1 ? out : out + "." + std::to_string(i + 1);
    auto written = WriteWhole(saved[i].path, bytes[i]);
    if (!written) return written.error();
  }
  return saved;
}

}  // namespace proofbook::cli
