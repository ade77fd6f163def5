# bench/cutover_bench's driver: the persistent clients, the CUTOVER on the
# admin console, and the table of every round. Included from
# bench/CMakeLists.txt; the script bench/cutover_bench builds this target
# and starts the servers.
add_executable(cutover_bench
  "${CMAKE_CURRENT_LIST_DIR}/cutover_bench.cc"
  "${CMAKE_CURRENT_LIST_DIR}/cutover_bench_table.cc")
target_link_libraries(cutover_bench PRIVATE PostgreSQL::PostgreSQL Threads::Threads)
