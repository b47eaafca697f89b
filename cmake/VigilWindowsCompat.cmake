# Vigil's own sources on Windows see a small POSIX layer (platform/windows/compat): force-included
# into every Vigil target through vigil_warnings (which vigil_target_defaults() links), and the
# definitions linked wherever it is used. Third-party code never sees it.
set(_compat ${CMAKE_SOURCE_DIR}/platform/windows/compat)
add_library(vigil_win_compat STATIC ${_compat}/posix_compat.cpp)
target_link_libraries(vigil_win_compat PUBLIC bcrypt)
target_compile_definitions(vigil_warnings INTERFACE _FILE_OFFSET_BITS=64 NOMINMAX WIN32_LEAN_AND_MEAN _WIN32_WINNT=0x0A00)
target_compile_options(vigil_warnings INTERFACE "SHELL:-include ${_compat}/vigil_posix_compat.h")
target_include_directories(vigil_warnings INTERFACE ${_compat})
target_link_libraries(vigil_warnings INTERFACE vigil_win_compat)
# GCC 12's libstdc++ trips its own -Wrestrict on `"literal" + std::string&&` once inlined (a known
# false positive: https://gcc.gnu.org/bugzilla/show_bug.cgi?id=105329); mingw's GCC 12 hits it in
# shared/time_util.cpp.
target_compile_options(vigil_warnings INTERFACE -Wno-restrict)
