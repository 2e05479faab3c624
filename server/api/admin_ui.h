// The admin dashboard's files (server/api/admin_ui/), compiled into the binary by
// embed_admin_ui.cmake and served at /admin/ (api_admin_ui.cc). Constant.
#pragma once

#include <string_view>
#include <vector>

namespace proofbook::server {

struct StaticFile {
  std::string_view name;  // "index.html"
  std::string_view content_type;
  std::string_view body;
};

const std::vector<StaticFile>& AdminUiFiles();

}  // namespace proofbook::server
