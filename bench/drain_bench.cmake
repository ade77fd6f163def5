# bench/drain_bench's driver: opens the sessions, runs DRAIN on the admin
# console and reads its report. Included from bench/CMakeLists.txt; the
# script bench/drain_bench builds this target and starts the servers.
add_executable(drain_bench "${CMAKE_CURRENT_LIST_DIR}/drain_bench.cc")
target_link_libraries(drain_bench PRIVATE PostgreSQL::PostgreSQL)
