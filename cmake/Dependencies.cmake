# Third-party pieces come from Debian packages and from node_modules (npm ci of the
# committed lockfile); scripts/setup.sh installs both.
find_package(PostgreSQL REQUIRED)
find_package(CURL REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(CLI11 REQUIRED)
find_package(tomlplusplus REQUIRED)
find_package(Threads REQUIRED)
if(WALDEN_BUILD_TESTS)
  find_package(GTest REQUIRED)
  find_package(benchmark QUIET)
endif()

set(WALDEN_NODE_MODULES "${PROJECT_SOURCE_DIR}/node_modules" CACHE PATH "npm ci output")
set(DUCKDB_LIBRARY "${WALDEN_NODE_MODULES}/@duckdb/node-bindings-linux-x64/libduckdb.so")
set(DUCKDB_INCLUDE_DIR "${WALDEN_NODE_MODULES}/duckdb/src/duckdb/src/include")
if(NOT EXISTS "${DUCKDB_LIBRARY}" OR NOT EXISTS "${DUCKDB_INCLUDE_DIR}/duckdb.h")
  message(FATAL_ERROR "DuckDB 1.4.4 not found under ${WALDEN_NODE_MODULES}; run scripts/setup.sh "
                      "(it runs `npm ci` for the pinned @duckdb/node-bindings-linux-x64 and duckdb).")
endif()
# Only duckdb.h is used from the duckdb npm package; copy it aside so the include path
# does not expose DuckDB's internal C++ headers.
file(COPY "${DUCKDB_INCLUDE_DIR}/duckdb.h" DESTINATION "${CMAKE_BINARY_DIR}/duckdb/include")
add_library(DuckDB::duckdb SHARED IMPORTED GLOBAL)
set_target_properties(DuckDB::duckdb PROPERTIES
  IMPORTED_LOCATION "${DUCKDB_LIBRARY}"
  INTERFACE_INCLUDE_DIRECTORIES "${CMAKE_BINARY_DIR}/duckdb/include")
install(FILES "${DUCKDB_LIBRARY}" DESTINATION "${CMAKE_INSTALL_LIBDIR}/walden")
