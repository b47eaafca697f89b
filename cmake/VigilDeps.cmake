# Every dependency comes from Debian's packages (scripts/bootstrap.sh installs them).
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(Protobuf REQUIRED)
find_package(Boost 1.81 REQUIRED COMPONENTS json)
find_package(Catch2 REQUIRED)
find_package(tomlplusplus REQUIRED)
find_package(CLI11 REQUIRED)
pkg_check_modules(LIBUV REQUIRED IMPORTED_TARGET libuv)
pkg_check_modules(ZSTD REQUIRED IMPORTED_TARGET libzstd)
pkg_check_modules(SQLITE3 REQUIRED IMPORTED_TARGET sqlite3)
pkg_check_modules(SODIUM REQUIRED IMPORTED_TARGET libsodium)  # auth: argon2id passwords, HMAC pseudonyms

# mbedTLS 2.28 ships no CMake config or pkg-config file on Debian 12.
find_path(MBEDTLS_INCLUDE_DIR mbedtls/ssl.h REQUIRED)
find_library(MBEDTLS_LIB mbedtls REQUIRED)
find_library(MBEDX509_LIB mbedx509 REQUIRED)
find_library(MBEDCRYPTO_LIB mbedcrypto REQUIRED)
add_library(vigil_mbedtls INTERFACE)
target_include_directories(vigil_mbedtls INTERFACE ${MBEDTLS_INCLUDE_DIR})
target_link_libraries(vigil_mbedtls INTERFACE ${MBEDTLS_LIB} ${MBEDX509_LIB} ${MBEDCRYPTO_LIB})
if(VIGIL_WITH_HYPERSCAN)
  pkg_check_modules(HYPERSCAN REQUIRED IMPORTED_TARGET libhs)
endif()

# libcups (printing capture): Debian 12's libcups2-dev ships no pkg-config file.
find_path(CUPS_INCLUDE_DIR cups/cups.h REQUIRED)
find_library(CUPS_LIB cups REQUIRED)
add_library(vigil_cups INTERFACE)
target_include_directories(vigil_cups INTERFACE ${CUPS_INCLUDE_DIR})
target_link_libraries(vigil_cups INTERFACE ${CUPS_LIB})

# cases: notices go to an SMTP relay through libcurl (smtp://, STARTTLS) — libcurl4-openssl-dev.
pkg_check_modules(CURL REQUIRED IMPORTED_TARGET libcurl)
