#include "clients/cli_api.h"

#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>

namespace proofbook::cli {

namespace json = boost::json;

namespace {

// A verified proof may be up to 64 MiB (max_proof_bytes), 4/3 of that in base64: allow a
// little more than that in one answer.
constexpr std::uint64_t kBodyLimit = std::uint64_t{128} << 20;
constexpr auto kConnectTimeout = std::chrono::seconds(10);

std::string Seconds(std::chrono::milliseconds ms) {
  char text[32];
  std::snprintf(text, sizeof text, "%g s", static_cast<double>(ms.count()) / 1000);
  return text;
}

// "code: message (field F, HTTP 422)" from the server's error object, or the bare status when
// the body is not one (a proxy's page, say).
std::string DescribeRefusal(const clients::HttpResponse& r) {
  std::string where = "HTTP " + std::to_string(r.status);
  if (const std::string retry_after = r.header("retry-after"); !retry_after.empty()) {
    where += "; retry after " + retry_after + " s";
  }
  json::error_code ec;
  json::value body = json::parse(r.body, ec);
  const json::object* error = nullptr;
  if (!ec && body.is_object()) {
    if (auto* e = body.as_object().if_contains("error"); e != nullptr && e->is_object()) {
      error = &e->as_object();
    }
  }
  auto text = [&](const char* name) -> std::string {
    if (error == nullptr) return "";
    auto* v = error->if_contains(name);
    return v != nullptr && v->is_string() ? std::string(v->as_string()) : "";
  };
  std::string code = text("code"), message = text("message"), field = text("field");
  if (code.empty()) {
    std::string snippet = r.body.substr(0, 200);
    for (char& c : snippet) {
      if (c == '\n' || c == '\r') c = ' ';
    }
    return "the server answered " + where + (snippet.empty() ? "" : ": " + snippet);
  }
  if (!field.empty()) where = "field " + field + ", " + where;
  return code + ": " + message + " (" + where + ")";
}

}  // namespace

Expected<ApiReply> ApiClient::Get(const std::string& path, std::chrono::milliseconds extra_wait) {
  return Call("GET", path, "", timeout_ + extra_wait);
}

Expected<ApiReply> ApiClient::Post(const std::string& path, const json::value& body) {
  return Call("POST", path, json::serialize(body), timeout_);
}

Expected<ApiReply> ApiClient::Delete(const std::string& path) {
  return Call("DELETE", path, "", timeout_);
}

Expected<ApiReply> ApiClient::Call(std::string_view method, const std::string& path,
                                   const std::string& body, std::chrono::milliseconds timeout) {
  clients::HttpRequest request;
  request.method = std::string(method);
  request.target = path;
  request.body = body;
  request.bearer = api_key_;
  if (!body.empty()) request.content_type = "application/json";
  request.headers = {{"Accept", "application/json"}};
  // One request per connection: a command makes few, and a fresh connection is never stale.
  clients::HttpClient http(endpoint_, {.user_agent = "proofbook-cli",
                                       .connect_timeout = kConnectTimeout,
                                       .request_timeout = timeout,
                                       .body_limit = kBodyLimit,
                                       .keep_alive = false});
  clients::HttpResponse r = http.Send(request);
  const std::string& url = endpoint_.url;
  switch (r.failure) {
    case clients::HttpFailure::kNone:
      break;
    case clients::HttpFailure::kResolve:
    case clients::HttpFailure::kConnect:
      return CliError{kExitUnavailable, "cannot reach the server at " + url + ": " + r.error};
    case clients::HttpFailure::kTimeout:
      return CliError{kExitUnavailable,
                      "the server at " + url + " did not answer within " + Seconds(timeout)};
    case clients::HttpFailure::kIo:
      return CliError{kExitUnavailable,
                      "lost the connection to the server at " + url + ": " + r.error};
  }
  if (r.status == 502 || r.status == 503 || r.status == 504) {
    return CliError{kExitUnavailable, DescribeRefusal(r)};
  }
  if (r.status >= 400 && r.status < 500) return CliError{kExitRefused, DescribeRefusal(r)};
  if (r.status < 200 || r.status >= 300) return CliError{kExitFailure, DescribeRefusal(r)};
  json::error_code ec;
  json::value parsed = json::parse(r.body, ec);
  if (ec) {
    return CliError{kExitFailure, "the server's answer to " + std::string(method) + " " + path +
                                      " is not JSON (" + ec.message() + ")"};
  }
  return ApiReply{r.status, std::move(r.body), std::move(parsed)};
}

std::string UrlEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace proofbook::cli
