# Project warnings as an INTERFACE target that every project target links.
# HIPP_WERROR=ON (CI turns it on) makes every warning an error.
option(HIPP_WERROR "treat compiler warnings as errors" OFF)
add_library(hipp_warnings INTERFACE)
target_compile_options(hipp_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow=local -Wnon-virtual-dtor -Wcast-align
  -Wno-unused-parameter
  $<$<BOOL:${HIPP_WERROR}>:-Werror>)
