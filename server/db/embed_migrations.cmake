# Writes OUT: a C++ file holding every DIR/NNNN_name.sql as a proofbook::server::Migration.
file(GLOB files ${DIR}/*.sql)
list(SORT files)
set(body "")
foreach(f ${files})
  get_filename_component(name ${f} NAME)
  if(NOT name MATCHES "^([0-9]+)_.*\\.sql$")
    message(FATAL_ERROR "migration file ${name} is not named NNNN_name.sql")
  endif()
  math(EXPR version "${CMAKE_MATCH_1}")
  file(READ ${f} sql)
  string(APPEND body "    {${version}, \"${name}\", R\"pbsql(${sql})pbsql\"},\n")
endforeach()
file(WRITE ${OUT}.tmp "// Generated from migrations/*.sql by embed_migrations.cmake. Do not edit.
#include \"server/db/migrations.h\"

namespace proofbook::server {

const std::vector<Migration>& EmbeddedMigrations() {
  static const std::vector<Migration> kMigrations = {
${body}  };
  return kMigrations;
}

}  // namespace proofbook::server
")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
