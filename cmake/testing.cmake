# Helpers every module uses to register its tests.
#
# signetd_add_unit(<module> <name> SOURCES ... LIBS ...)
#   builds unit_<module>_<name> and registers CTest "unit.<module>.<name>".
# signetd_add_fuzz(<name> SOURCES ... LIBS ...)
#   builds fuzz_<name>: a libFuzzer binary with -DSIGNETD_FUZZ=ON (clang), or
#   otherwise the same target linked with tests/fuzz/replay_main.c; CTest
#   "fuzz.<name>" replays tests/fuzz/corpora/<name>/ either way.

function(signetd_add_unit module name)
  cmake_parse_arguments(U "" "" "SOURCES;LIBS" ${ARGN})
  set(t unit_${module}_${name})
  add_executable(${t} ${U_SOURCES})
  target_link_libraries(${t} PRIVATE ${U_LIBS} sd_build)
  target_compile_definitions(${t} PRIVATE
    SIGNETD_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    SIGNETD_TESTDATA_DIR="${PROJECT_SOURCE_DIR}/tests/data")
  add_test(NAME unit.${module}.${name} COMMAND ${t})
  set_tests_properties(unit.${module}.${name} PROPERTIES LABELS "unit;${module}"
    ENVIRONMENT "SIGNETD_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
endfunction()

function(signetd_add_fuzz name)
  cmake_parse_arguments(F "" "" "SOURCES;LIBS" ${ARGN})
  set(t fuzz_${name})
  if(SIGNETD_FUZZ)
    add_executable(${t} ${F_SOURCES})
    target_compile_options(${t} PRIVATE -fsanitize=fuzzer)
    target_link_options(${t} PRIVATE -fsanitize=fuzzer)
  else()
    add_executable(${t} ${F_SOURCES} ${PROJECT_SOURCE_DIR}/tests/fuzz/replay_main.c)
  endif()
  target_link_libraries(${t} PRIVATE ${F_LIBS} sd_build)
  set(corpus ${PROJECT_SOURCE_DIR}/tests/fuzz/corpora/${name})
  if(SIGNETD_FUZZ)
    add_test(NAME fuzz.${name} COMMAND ${t} -runs=0 ${corpus})
    # a short real fuzzing run; new inputs go to the build tree, the
    # committed corpus is only read
    set(work ${PROJECT_BINARY_DIR}/fuzz-work/${name})
    file(MAKE_DIRECTORY ${work})
    add_test(NAME fuzz.${name}.run COMMAND ${t}
      -max_total_time=${SIGNETD_FUZZ_SECONDS} -print_final_stats=1
      -artifact_prefix=${work}/crash- ${work} ${corpus})
    set_tests_properties(fuzz.${name}.run PROPERTIES LABELS "fuzzrun"
      TIMEOUT 600)
  else()
    add_test(NAME fuzz.${name} COMMAND ${t} ${corpus})
  endif()
  set_tests_properties(fuzz.${name} PROPERTIES LABELS "fuzz")
endfunction()
