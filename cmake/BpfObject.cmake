# bpf_object(NAME SOURCE)
#
# Compiles SOURCE (a *.bpf.c file) with clang for the BPF target and generates
# its libbpf skeleton NAME.skel.h with bpftool, both in the build tree. Defines
# an INTERFACE library NAME_skel that puts the skeleton on the include path and
# links libbpf, so a consumer only writes
#     target_link_libraries(tool PRIVATE NAME_skel)
#     #include "NAME.skel.h"
find_program(BPF_CLANG NAMES clang clang-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)

# Architecture define for bpf_tracing.h style headers.
string(TOLOWER "${CMAKE_SYSTEM_PROCESSOR}" _bpf_arch)
if(_bpf_arch MATCHES "x86_64|amd64")
  set(BPF_TARGET_ARCH x86)
elseif(_bpf_arch MATCHES "aarch64|arm64")
  set(BPF_TARGET_ARCH arm64)
else()
  set(BPF_TARGET_ARCH ${_bpf_arch})
endif()

function(bpf_object name source)
  set(_src ${CMAKE_CURRENT_SOURCE_DIR}/${source})
  set(_obj ${CMAKE_CURRENT_BINARY_DIR}/${name}.bpf.o)
  set(_skel ${CMAKE_CURRENT_BINARY_DIR}/${name}.skel.h)
  # The multiarch include dir gives the BPF compile <asm/types.h>.
  execute_process(COMMAND ${CMAKE_C_COMPILER} -print-multiarch
                  OUTPUT_VARIABLE _multiarch OUTPUT_STRIP_TRAILING_WHITESPACE
                  ERROR_QUIET)
  if(NOT _multiarch)
    set(_multiarch x86_64-linux-gnu)
  endif()
  add_custom_command(
    OUTPUT ${_obj}
    COMMAND ${BPF_CLANG} -g -O2 -target bpf -D__TARGET_ARCH_${BPF_TARGET_ARCH}
            -Wall -Werror -I${CMAKE_SOURCE_DIR} -I/usr/include/${_multiarch}
            -c ${_src} -o ${_obj}
    DEPENDS ${_src}
    IMPLICIT_DEPENDS C ${_src}
    COMMENT "BPF ${source}"
    VERBATIM)
  add_custom_command(
    OUTPUT ${_skel}
    COMMAND ${BPFTOOL} gen skeleton ${_obj} name ${name} > ${_skel}
    DEPENDS ${_obj}
    COMMENT "skeleton ${name}.skel.h"
    VERBATIM)
  add_custom_target(${name}_skel_gen DEPENDS ${_skel})
  add_library(${name}_skel INTERFACE)
  add_dependencies(${name}_skel ${name}_skel_gen)
  target_include_directories(${name}_skel INTERFACE ${CMAKE_CURRENT_BINARY_DIR})
  target_link_libraries(${name}_skel INTERFACE PkgConfig::LIBBPF)
endfunction()
