// Where the `proofbook` command line finds its server and API key. Each setting is taken from
// the first place that has it: the flag (--url, --api-key), the environment
// (PROOFBOOK_URL, PROOFBOOK_API_KEY), the config file, the default (http://127.0.0.1:8080; no
// key). The config file is --config FILE, else $XDG_CONFIG_HOME/proofbook/config, else
// ~/.config/proofbook/config; lines `url = ...` and `api_key = ...`, `#` comments.
#pragma once

#include <string>

#include "clients/cli_api.h"
#include "clients/common/http_client.h"

namespace proofbook::cli {

inline constexpr char kDefaultUrl[] = "http://127.0.0.1:8080";

struct ConfigInputs {
  std::string url;          // from --url or PROOFBOOK_URL; empty: neither
  std::string api_key;      // from --api-key or PROOFBOOK_API_KEY; empty: neither
  std::string config_file;  // --config; empty: the default path, if that file exists
  std::string ca_file;      // --ca-file or PROOFBOOK_CA_FILE: CAs for https (else the system's)
};

struct ClientConfig {
  clients::HttpEndpoint endpoint;
  std::string api_key;      // empty when none was found anywhere
  std::string config_file;  // the file that was read; empty when none
};

// Errors (kExitUsage): a bad URL, an unreadable --config file, a malformed config line.
Expected<ClientConfig> ResolveConfig(const ConfigInputs& inputs);

// The default config file's path ("" when neither XDG_CONFIG_HOME nor HOME is set).
std::string DefaultConfigPath();

// http[s]://host[:port][/base] (the scheme may be left out: http); IPv6 hosts in brackets.
Expected<clients::HttpEndpoint> ParseUrl(const std::string& url);

}  // namespace proofbook::cli
