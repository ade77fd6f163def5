# bench/fleet_bench's driver: DISABLE on one instance until every instance
# refuses, and cancels sent to the holding instance, another instance and
# PostgreSQL. Included from bench/CMakeLists.txt; the script bench/fleet_bench
# builds this target and starts the servers.
add_executable(fleet_bench "${CMAKE_CURRENT_LIST_DIR}/fleet_bench.cc")
target_link_libraries(fleet_bench PRIVATE PostgreSQL::PostgreSQL)
