# End-to-end tests of DRAIN, included from tests/e2e. Each binary shares one
# PostgreSQL and one pgvalve (the admin console's fixture) among its tests,
# so each is one CTest test rather than one per TEST_F.
set(pgvalve_drain_e2e_dir "${CMAKE_CURRENT_LIST_DIR}")

# The admin console's support library, defined by admin_tests.cmake when
# that is included first; built here otherwise.
if(NOT TARGET pgvalve_admin_e2e_support)
  add_library(pgvalve_admin_e2e_support STATIC "${pgvalve_drain_e2e_dir}/admin_test_support.cc")
  target_link_libraries(pgvalve_admin_e2e_support PUBLIC pgvalve_e2e_support pgvalve_test_support
                        GTest::gtest Threads::Threads)
endif()

add_library(pgvalve_drain_e2e_support STATIC "${pgvalve_drain_e2e_dir}/drain_test_support.cc")
target_link_libraries(pgvalve_drain_e2e_support PUBLIC pgvalve_admin_e2e_support)

# acceptance: the full scenario (idle, open transactions, long statements,
# direct connections; THEN TERMINATE INCLUDING DIRECT). escalation: commit
# during GRACE, THEN CANCEL, TIMEOUT with a refused terminate. nowait:
# NOWAIT, SHOW DRAINS, SHOW DRAIN, CANCEL DRAIN. except_role: EXCEPT ROLE.
# dry_run: DRY RUN's findings.
foreach(name acceptance escalation nowait except_role dry_run)
  add_executable(drain_e2e_${name} "${pgvalve_drain_e2e_dir}/drain_${name}_test.cc")
  target_link_libraries(drain_e2e_${name} PRIVATE pgvalve_drain_e2e_support GTest::gtest_main)
  add_test(NAME e2e.drain_${name} COMMAND drain_e2e_${name})
  set_tests_properties(e2e.drain_${name} PROPERTIES TIMEOUT 900 LABELS e2e)
endforeach()
