# Dependencies of the Windows agent. Debian ships none of them built for mingw-w64, so
# scripts/windows-deps.sh fetches Debian's own source packages (apt-get source, Debian's patches
# applied) into VIGIL_WIN_DEPS, and they are built here as part of the one Ninja graph (static,
# only what the agent links: EXCLUDE_FROM_ALL). The header-only ones (CLI11, toml++, Catch2 v2) are
# the host's Debian headers, staged alone so the host's /usr/include is never on the path.
# protoc is the host's (same version, 3.21.12, as the protobuf sources).
set(VIGIL_WIN_DEPS "${CMAKE_SOURCE_DIR}/build-win/deps" CACHE PATH "where scripts/windows-deps.sh put the sources")
set(_src ${VIGIL_WIN_DEPS}/x)
foreach(d libuv1-1.44.2 mbedtls-2.28.3 libzstd-1.5.4+dfsg2 protobuf-3.21.12 sqlite-amalgamation include)
  if(NOT EXISTS ${_src}/${d})
    message(FATAL_ERROR "${_src}/${d} is missing: run scripts/windows-deps.sh first (make windows does)")
  endif()
endforeach()
enable_language(C)
find_package(Threads REQUIRED)

# Third-party code is built without our warning flags, and without its own -Werror.
set(BUILD_SHARED_LIBS OFF)
set(BUILD_TESTING OFF)

set(LIBUV_BUILD_TESTS OFF CACHE BOOL "" FORCE)
set(LIBUV_BUILD_BENCH OFF CACHE BOOL "" FORCE)
add_subdirectory(${_src}/libuv1-1.44.2 ${CMAKE_BINARY_DIR}/deps/libuv EXCLUDE_FROM_ALL)
add_library(PkgConfig::LIBUV ALIAS uv_a)

set(ENABLE_PROGRAMS OFF CACHE BOOL "" FORCE)
set(ENABLE_TESTING OFF CACHE BOOL "" FORCE)
set(GEN_FILES OFF CACHE BOOL "" FORCE)
set(MBEDTLS_FATAL_WARNINGS OFF CACHE BOOL "" FORCE)
set(USE_SHARED_MBEDTLS_LIBRARY OFF CACHE BOOL "" FORCE)
set(USE_STATIC_MBEDTLS_LIBRARY ON CACHE BOOL "" FORCE)
set(INSTALL_MBEDTLS_HEADERS OFF CACHE BOOL "" FORCE)
add_subdirectory(${_src}/mbedtls-2.28.3 ${CMAKE_BINARY_DIR}/deps/mbedtls EXCLUDE_FROM_ALL)
add_library(vigil_mbedtls INTERFACE)
target_link_libraries(vigil_mbedtls INTERFACE mbedtls mbedx509 mbedcrypto bcrypt ws2_32)

set(ZSTD_BUILD_PROGRAMS OFF CACHE BOOL "" FORCE)
set(ZSTD_BUILD_SHARED OFF CACHE BOOL "" FORCE)
set(ZSTD_BUILD_STATIC ON CACHE BOOL "" FORCE)
set(ZSTD_BUILD_TESTS OFF CACHE BOOL "" FORCE)
set(ZSTD_MULTITHREAD_SUPPORT OFF CACHE BOOL "" FORCE)
set(ZSTD_LEGACY_SUPPORT OFF CACHE BOOL "" FORCE)
add_subdirectory(${_src}/libzstd-1.5.4+dfsg2/build/cmake ${CMAKE_BINARY_DIR}/deps/zstd EXCLUDE_FROM_ALL)
add_library(vigil_zstd INTERFACE)
target_link_libraries(vigil_zstd INTERFACE libzstd_static)
target_include_directories(vigil_zstd INTERFACE ${_src}/libzstd-1.5.4+dfsg2/lib)
add_library(PkgConfig::ZSTD ALIAS vigil_zstd)

# SQLite: the amalgamation the deps script generated from Debian's source tree.
add_library(vigil_sqlite3 STATIC ${_src}/sqlite-amalgamation/sqlite3.c)
target_include_directories(vigil_sqlite3 PUBLIC ${_src}/sqlite-amalgamation)
target_compile_definitions(vigil_sqlite3 PRIVATE SQLITE_THREADSAFE=1 SQLITE_DQS=0 SQLITE_OMIT_LOAD_EXTENSION
                           SQLITE_DEFAULT_WAL_SYNCHRONOUS=1 SQLITE_ENABLE_JSON1)
add_library(PkgConfig::SQLITE3 ALIAS vigil_sqlite3)

set(protobuf_BUILD_TESTS OFF CACHE BOOL "" FORCE)
set(protobuf_BUILD_CONFORMANCE OFF CACHE BOOL "" FORCE)
set(protobuf_BUILD_EXAMPLES OFF CACHE BOOL "" FORCE)
set(protobuf_BUILD_PROTOC_BINARIES OFF CACHE BOOL "" FORCE)
set(protobuf_BUILD_LIBPROTOC OFF CACHE BOOL "" FORCE)
set(protobuf_WITH_ZLIB OFF CACHE BOOL "" FORCE)
set(protobuf_INSTALL OFF CACHE BOOL "" FORCE)
set(protobuf_BUILD_SHARED_LIBS OFF CACHE BOOL "" FORCE)
add_subdirectory(${_src}/protobuf-3.21.12 ${CMAKE_BINARY_DIR}/deps/protobuf EXCLUDE_FROM_ALL)
find_program(VIGIL_HOST_PROTOC protoc REQUIRED NO_CMAKE_FIND_ROOT_PATH)
add_executable(protobuf::protoc IMPORTED)
set_target_properties(protobuf::protoc PROPERTIES IMPORTED_LOCATION ${VIGIL_HOST_PROTOC})

# Header-only libraries from the host's Debian packages (staged by scripts/windows-deps.sh).
add_library(tomlplusplus::tomlplusplus INTERFACE IMPORTED)
target_include_directories(tomlplusplus::tomlplusplus SYSTEM INTERFACE ${_src}/include)
target_compile_definitions(tomlplusplus::tomlplusplus INTERFACE TOML_HEADER_ONLY=1)
add_library(CLI11::CLI11 INTERFACE IMPORTED)
target_include_directories(CLI11::CLI11 SYSTEM INTERFACE ${_src}/include)
add_library(Catch2::Catch2 INTERFACE IMPORTED)
target_include_directories(Catch2::Catch2 SYSTEM INTERFACE ${_src}/include)
