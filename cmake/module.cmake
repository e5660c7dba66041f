# signetd_module(<name> [DEPS ...] [LIBS ...] [TEST_LIBS ...] [TOOL_PREFIX p]) - the module
# convention, so that adding a file is all a change needs.  Called from the
# module's folder (e.g. oracle/index/CMakeLists.txt, name oracle_index):
#   <dir>/*.c              -> STATIC library <name>
#   <dir>/test/test_*.c    -> unit test unit.<name>.<x> (links <name>)
#   <dir>/test/tool_*.c    -> helper executables build/tools/<p>_<x>
#                             (p defaults to <name>) used by integration
#                             tests and benchmarks
# DEPS are our modules below this one (their headers are part of ours, so
# PUBLIC); LIBS are third-party libraries the module owns, linked PRIVATE so
# that they do not leak to the modules above; TEST_LIBS only the unit tests
# and tools link (jansson to read test vectors).  Which module may include
# which header is checked by tests/arch_check.py (CTest unit.arch).
function(signetd_module name)
  cmake_parse_arguments(M "" "TOOL_PREFIX" "DEPS;LIBS;TEST_LIBS" ${ARGN})
  if(NOT M_TOOL_PREFIX)
    set(M_TOOL_PREFIX ${name})
  endif()
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.c)
  add_library(${name} STATIC ${srcs})
  target_link_libraries(${name} PUBLIC sd_build ${M_DEPS})
  if(M_LIBS)
    target_link_libraries(${name} PRIVATE ${M_LIBS})
  endif()
  if(BUILD_TESTING)
    file(GLOB tests CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/test/test_*.c)
    foreach(t ${tests})
      get_filename_component(tn ${t} NAME_WE)
      string(REGEX REPLACE "^test_" "" tn ${tn})
      signetd_add_unit(${name} ${tn} SOURCES ${t} LIBS ${name} ${M_LIBS}
        ${M_TEST_LIBS})
    endforeach()
  endif()
  file(GLOB tools CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/test/tool_*.c)
  foreach(t ${tools})
    get_filename_component(tn ${t} NAME_WE)
    string(REGEX REPLACE "^tool_" "" tn ${tn})
    # target tool_<p>_<x>: the file name may equal a library's name
    add_executable(tool_${M_TOOL_PREFIX}_${tn} ${t})
    target_link_libraries(tool_${M_TOOL_PREFIX}_${tn} PRIVATE ${name}
      ${M_LIBS} ${M_TEST_LIBS} sd_build)
    set_target_properties(tool_${M_TOOL_PREFIX}_${tn} PROPERTIES
      OUTPUT_NAME ${M_TOOL_PREFIX}_${tn}
      RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tools)
  endforeach()
endfunction()
