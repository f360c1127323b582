# One idiom for every compiler-side library: an MLIR-style library that links the
# shared libMLIR (and libLLVM through it) instead of the static component libraries.
function(pmc_add_compiler_library name)
  cmake_parse_arguments(ARG "" "" "DEPENDS;LINK_LIBS" ${ARGN})
  add_mlir_library(${name} ${ARG_UNPARSED_ARGUMENTS}
    DEPENDS ${ARG_DEPENDS}
    LINK_LIBS PUBLIC MLIR ${ARG_LINK_LIBS})
endfunction()
