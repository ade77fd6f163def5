# End-to-end tests of the admin console, included from tests/e2e. Each
# binary shares one PostgreSQL and one pgvalve (started from a config file)
# among its tests, so each is one CTest test rather than one per TEST_F.
set(pgvalve_admin_e2e_dir "${CMAKE_CURRENT_LIST_DIR}")

add_library(pgvalve_admin_e2e_support STATIC "${pgvalve_admin_e2e_dir}/admin_test_support.cc")
# pgvalve_e2e_support: the libpq waits and the hang guard every e2e test shares.
target_link_libraries(pgvalve_admin_e2e_support PUBLIC pgvalve_e2e_support pgvalve_test_support
                      GTest::gtest Threads::Threads)

# gate: DISABLE/ENABLE, PAUSE/RESUME. hold_timeout: its own pgvalve with a
# 1 s hold_timeout. held_client: clients that leave while held, with a
# 10 min hold_timeout. session_commands: CANCEL, TERMINATE, KILL. filters:
# STATE, ... LONGER THAN, USER, APPLICATION, CLIENT on them, DRY RUN. console:
# login, protocol, SHOW, roles, audit log. lifecycle: state file across a
# restart, RELOAD, SHUTDOWN. fd_limit: silent connections under a low
# file-descriptor limit, the startup bounds. limits: query_timeout,
# idle_in_transaction_timeout, client_idle_timeout, SET/RESET/SHOW LIMITS.
# switch: SWITCH between a primary and its streaming standby. rules: access
# rules of both listeners, SHOW RULES, RELOAD of rules.
foreach(name gate hold_timeout held_client session_commands filters console lifecycle fd_limit
        limits switch rules)
  add_executable(admin_e2e_${name} "${pgvalve_admin_e2e_dir}/admin_${name}_test.cc")
  target_link_libraries(admin_e2e_${name} PRIVATE pgvalve_admin_e2e_support pgvalve_test_support
                        GTest::gtest_main)
  add_test(NAME e2e.admin_${name} COMMAND admin_e2e_${name})
  set_tests_properties(e2e.admin_${name} PROPERTIES TIMEOUT 900 LABELS e2e)
endforeach()

# cutover: CUTOVER from a primary to its promoted streaming standby under
# load, DRY RUN, a restart after. cutover_logical: to a logical subscriber,
# with and without SYNC SEQUENCES. cutover_rollback: timeout, CANCEL CUTOVER,
# GRACE's termination, the preflight's refusals. Each test starts a primary,
# its standby and a pgvalve of its own, since a completed cutover promotes
# the standby. DRAIN's support watches sessions without blocking on libpq.
add_library(pgvalve_cutover_e2e_support STATIC "${pgvalve_admin_e2e_dir}/cutover_test_support.cc")
target_link_libraries(pgvalve_cutover_e2e_support PUBLIC pgvalve_drain_e2e_support)
foreach(name cutover cutover_logical cutover_rollback)
  add_executable(admin_e2e_${name} "${pgvalve_admin_e2e_dir}/admin_${name}_test.cc")
  target_link_libraries(admin_e2e_${name} PRIVATE pgvalve_cutover_e2e_support GTest::gtest_main)
  add_test(NAME e2e.admin_${name} COMMAND admin_e2e_${name})
  set_tests_properties(e2e.admin_${name} PROPERTIES TIMEOUT 900 LABELS e2e)
endforeach()

# tls: both legs against a PostgreSQL with ssl = on, certificates made by
# the test; each test starts the pgvalve it needs from a config file.
add_executable(tls_e2e_test "${pgvalve_admin_e2e_dir}/tls_e2e_test.cc")
target_link_libraries(tls_e2e_test PRIVATE pgvalve_admin_e2e_support pgvalve_test_support GTest::gtest_main)
add_test(NAME e2e.tls COMMAND tls_e2e_test)
set_tests_properties(e2e.tls PROPERTIES TIMEOUT 900 LABELS e2e)
