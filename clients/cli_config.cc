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
  clients::HttpEndpoint e;
  std::string error;
  if (!clients::ParseEndpoint(url, &e, &error)) return CliError{kExitUsage, error};
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
  out.endpoint.ca_file = inputs.ca_file;
  out.api_key = !inputs.api_key.empty() ? inputs.api_key : file.api_key;
  return out;
}

}  // namespace proofbook::cli
