# Project warnings as an INTERFACE target that every project target links.
add_library(hipp_warnings INTERFACE)
target_compile_options(hipp_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow=local -Wnon-virtual-dtor -Wcast-align
  -Wno-unused-parameter)
