# Writes OUT: a C++ file holding every file of DIR (the admin dashboard) with its content type,
# so the server binary serves the dashboard without a source tree.
file(GLOB files ${DIR}/*)
list(SORT files)
set(body "")
foreach(f ${files})
  get_filename_component(name ${f} NAME)
  if(name MATCHES "\\.html$")
    set(type "text/html; charset=utf-8")
  elseif(name MATCHES "\\.js$")
    set(type "text/javascript; charset=utf-8")
  elseif(name MATCHES "\\.css$")
    set(type "text/css; charset=utf-8")
  else()
    message(FATAL_ERROR "admin_ui/${name}: no content type known for it")
  endif()
  file(READ ${f} text)
  string(APPEND body "    {\"${name}\", \"${type}\", R\"pbui(${text})pbui\"},\n")
endforeach()
file(WRITE ${OUT}.tmp "// Generated from server/api/admin_ui/ by embed_admin_ui.cmake. Do not edit.
#include \"server/api/admin_ui.h\"

namespace proofbook::server {

const std::vector<StaticFile>& AdminUiFiles() {
  static const std::vector<StaticFile> kFiles = {
${body}  };
  return kFiles;
}

}  // namespace proofbook::server
")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
