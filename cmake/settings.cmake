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

# Include roots: every library sees only its own headers and those of the libraries it links.
# Sources include by folder ("core/sas.hpp", "device/device_client.hpp"); each library exports a
# directory that holds one link, named after its folder, to that folder only, so a header of a
# library that a target does not link is not found (tests/layering also checks the sources).
function(azhub_include_root target folder scope)
  set(root ${PROJECT_BINARY_DIR}/include_roots/${folder})
  if(NOT EXISTS ${root}/${folder})
    file(MAKE_DIRECTORY ${root})
    file(CREATE_LINK ${PROJECT_SOURCE_DIR}/${folder} ${root}/${folder} SYMBOLIC)
  endif()
  target_include_directories(${target} ${scope} ${root})
endfunction()
