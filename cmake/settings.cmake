# Warnings and sanitizers as INTERFACE targets that every azhub target links privately.
add_library(azhub_warnings INTERFACE)
target_compile_options(azhub_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
                                                -Wno-sign-conversion -Wnon-virtual-dtor)
if(AZHUB_WARNINGS_AS_ERRORS)
  target_compile_options(azhub_warnings INTERFACE -Werror)
endif()
# GCC 12 reports -Wrestrict inside libstdc++ for `"literal" + std::string&&` once it inlines
# basic_string::insert (GCC bug 105329, fixed in GCC 13): a false positive in the standard
# library, not in azhub, so that one diagnostic is off on GCC 12 only.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  target_compile_options(azhub_warnings INTERFACE -Wno-restrict)
endif()

if(AZHUB_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=undefined
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

# libFuzzer builds (the `fuzz` preset, clang): instrument every library for coverage and
# sanitize it; tests/fuzz links the fuzz targets themselves with -fsanitize=fuzzer.
if(AZHUB_FUZZ)
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()
