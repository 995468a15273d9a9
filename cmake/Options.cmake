# Every build switch of the project, in one place.
option(HIPP_BUILD_APP "Build the Qt 6 desktop app (hipp-explorer)" ON)
option(HIPP_BUILD_TESTS "Build the test suite" ON)
option(HIPP_BUILD_BENCH "Build the benchmark programs" ON)
option(HIPP_USE_CCACHE "Compile through ccache when it is installed" ON)
option(HIPP_USE_PCH "Precompile the torch header for the engine" ON)
option(HIPP_TORCH_FROM_ENV "Torch_DIR comes from HIPP_TORCH_DIR (the cuda preset): refuse to configure without it" OFF)

if(HIPP_USE_CCACHE)
  find_program(HIPP_CCACHE ccache)
  if(HIPP_CCACHE)
    # Precompiled headers need these sloppiness settings to be cacheable.
    # Measured: with the torch PCH ccache still misses every object (the .gch
    # changes each build); making the two work together is open work.
    set(CMAKE_CXX_COMPILER_LAUNCHER
        ${CMAKE_COMMAND} -E env
        "CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime"
        # Relative paths let a fresh clone elsewhere (CI) reuse the cache.
        "CCACHE_BASEDIR=${CMAKE_SOURCE_DIR}" "CCACHE_NOHASHDIR=true"
        ${HIPP_CCACHE})
  endif()
endif()

# The `asan` preset: AddressSanitizer and UndefinedBehaviorSanitizer on every
# target (LibTorch itself is not instrumented; what runs inside it is checked
# only where it calls back into ours). Its tests run with leak checking on.
option(HIPP_SANITIZE "Build with -fsanitize=address,undefined" OFF)
if(HIPP_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()
