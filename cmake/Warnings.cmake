function(walden_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow
                                           -Wnon-virtual-dtor -Wimplicit-fallthrough
                                           -Wno-missing-field-initializers)
  if(WALDEN_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
