# Cross-compiling the Windows agent on Debian with mingw-w64 (g++-mingw-w64-x86-64-posix: the
# posix thread model, so std::thread and std::mutex work). See docs/WINDOWS.md.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(VIGIL_MINGW_PREFIX x86_64-w64-mingw32)
set(CMAKE_C_COMPILER ${VIGIL_MINGW_PREFIX}-gcc-posix)
set(CMAKE_CXX_COMPILER ${VIGIL_MINGW_PREFIX}-g++-posix)
set(CMAKE_RC_COMPILER ${VIGIL_MINGW_PREFIX}-windres)
set(CMAKE_FIND_ROOT_PATH /usr/${VIGIL_MINGW_PREFIX})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# One self-contained .exe: no libstdc++/libgcc/winpthread DLLs to ship beside it.
# -O2, not CMake's -O3: as fast to run for an agent, and much quicker to build cold.
set(CMAKE_C_FLAGS_RELEASE_INIT "-O2 -DNDEBUG")
set(CMAKE_CXX_FLAGS_RELEASE_INIT "-O2 -DNDEBUG")
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static -static-libgcc -static-libstdc++")
