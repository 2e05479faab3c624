#include "clients/cli_config.h"

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>

namespace proofbook::cli {

namespace {

std::string Trim(const std::string& s) {
  const char* space = " \t\r";
  auto first = s.find_first_not_of(space);
  if (first == std::string::npos) return "";
  return s.substr(first, s.find_last_not_of(space) - first + 1);
}

struct FileSettings {
  std::string url, api_key;
};

// Reads `url = ...` and `api_key = ...` lines. A missing file is an error only when `must_exist`.
Expected<FileSettings> ReadConfigFile(const std::string& path, bool must_exist) {
  std::ifstream in(path);
  if (!in) {
    if (!must_exist && errno == ENOENT) return FileSettings{};
    return CliError{kExitUsage,
                    "cannot read the config file " + path + ": " + std::strerror(errno)};
  }
  FileSettings out;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    line = Trim(line);
    if (line.empty() || line[0] == '#') continue;
    auto where = path + ":" + std::to_string(n) + ": ";
    auto eq = line.find('=');
    if (eq == std::string::npos) {
      return CliError{kExitUsage, where + "expected 'url = ...' or 'api_key = ...'"};
    }
    std::string name = Trim(line.substr(0, eq));
    std::string value = Trim(line.substr(eq + 1));
    if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
        value.back() == value.front()) {
      value = value.substr(1, value.size() - 2);
    }
    if (name == "url") {
      out.url = value;
    } else if (name == "api_key") {
      out.api_key = value;
    } else {
      return CliError{kExitUsage, where + "unknown setting '" + name + "' (url or api_key)"};
    }
  }
  return out;
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? "" : v;
}

}  // namespace

std::string DefaultConfigPath() {
  std::string xdg = Env("XDG_CONFIG_HOME");
  if (!xdg.empty() && xdg[0] == '/') return xdg + "/proofbook/config";
  std::string home = Env("HOME");
  if (!home.empty()) return home + "/.config/proofbook/config";
  return "";
}

Expected<clients::HttpEndpoint> ParseUrl(const std::string& url) {
  auto bad = [&](const std::string& why) {
    return CliError{kExitUsage, "bad server URL '" + url + "': " + why};
  };
  std::string rest = url;
  auto scheme = rest.find("://");
  if (scheme != std::string::npos) {
    std::string name = rest.substr(0, scheme);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (name != "http") return bad("only http:// is supported (the server speaks plain HTTP)");
    rest = rest.substr(scheme + 3);
  }
  auto path_at = rest.find_first_of("/?#");
  std::string authority = rest.substr(0, path_at);
  std::string path = path_at == std::string::npos ? "" : rest.substr(path_at);
  if (path.find_first_of("?#") != std::string::npos) return bad("no query or fragment, please");
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (authority.find('@') != std::string::npos) return bad("no user name in the URL");

  clients::HttpEndpoint e;
  e.url = url;
  e.base_path = path;
  e.port = "80";
  std::string port;
  if (!authority.empty() && authority[0] == '[') {  // [v6 address]:port
    auto close = authority.find(']');
    if (close == std::string::npos) return bad("unclosed '['");
    e.host = authority.substr(1, close - 1);
    std::string after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return bad("expected ':port' after ']'");
      port = after.substr(1);
    }
  } else {
    auto colon = authority.rfind(':');
    e.host = authority.substr(0, colon);
    if (colon != std::string::npos) port = authority.substr(colon + 1);
  }
  if (e.host.empty()) return bad("no host");
  if (!port.empty()) {
    if (port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(port) < 1 || std::stoi(port) > 65535) {
      return bad("the port must be 1..65535");
    }
    e.port = port;
  }
  return e;
}

Expected<ClientConfig> ResolveConfig(const ConfigInputs& inputs) {
  ClientConfig out;
  std::string path = inputs.config_file.empty() ? DefaultConfigPath() : inputs.config_file;
  FileSettings file;
  if (!path.empty()) {
    auto read = ReadConfigFile(path, /*must_exist=*/!inputs.config_file.empty());
    if (!read) return read.error();
    file = *read;
    if (!file.url.empty() || !file.api_key.empty()) out.config_file = path;
  }
  std::string url = !inputs.url.empty() ? inputs.url : !file.url.empty() ? file.url : kDefaultUrl;
  auto endpoint = ParseUrl(url);
  if (!endpoint) return endpoint.error();
  out.endpoint = *endpoint;
  out.api_key = !inputs.api_key.empty() ? inputs.api_key : file.api_key;
  return out;
}

}  // namespace proofbook::cli
