# signetd_module(<name> LIBS ...) - the module convention, so that adding a
# file is all a change needs:
#   <name>/*.c              -> STATIC library <name>
#   <name>/test/test_*.c    -> unit test unit.<name>.<x> (links <name>)
#   <name>/test/tool_*.c    -> helper executables build/tools/<name>_<x>
#                              used by integration tests and benchmarks
function(signetd_module name)
  cmake_parse_arguments(M "" "" "LIBS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.c)
  add_library(${name} STATIC ${srcs})
  target_link_libraries(${name} PUBLIC sd_core sd_build ${M_LIBS})
  if(BUILD_TESTING)
    file(GLOB tests CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/test/test_*.c)
    foreach(t ${tests})
      get_filename_component(tn ${t} NAME_WE)
      string(REGEX REPLACE "^test_" "" tn ${tn})
      signetd_add_unit(${name} ${tn} SOURCES ${t} LIBS ${name})
    endforeach()
  endif()
  file(GLOB tools CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/test/tool_*.c)
  foreach(t ${tools})
    get_filename_component(tn ${t} NAME_WE)
    string(REGEX REPLACE "^tool_" "" tn ${tn})
    add_executable(${name}_${tn} ${t})
    target_link_libraries(${name}_${tn} PRIVATE ${name} sd_build)
    set_target_properties(${name}_${tn} PROPERTIES
      RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tools)
  endforeach()
endfunction()
