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
