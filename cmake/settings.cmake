# Warnings and sanitizers as INTERFACE targets that every azhub target links privately.
add_library(azhub_warnings INTERFACE)
target_compile_options(azhub_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
                                                -Wno-sign-conversion -Wnon-virtual-dtor)
if(AZHUB_WARNINGS_AS_ERRORS)
  target_compile_options(azhub_warnings INTERFACE -Werror)
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
