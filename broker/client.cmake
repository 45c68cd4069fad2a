# The client side of the broker — protocol, frame decoder, BrokerSelector, ShmSelector — as an
# OBJECT library. It needs no Boost (plain POSIX sockets) and starts no threads. Included by
# bindings-c/CMakeLists.txt, which compiles these objects INTO libsamering_c (static and shared),
# so that programs that link libsamering_c.a + libsamering_selector.a (the Perl XS dist does)
# get selector_new_from_broker/selector_new_from_shm with no new library to link.
set(SAMERING_BROKER_DIR ${CMAKE_CURRENT_LIST_DIR})
add_library(samering_broker_client_obj OBJECT
  ${SAMERING_BROKER_DIR}/src/protocol.cpp
  ${SAMERING_BROKER_DIR}/src/frame_decoder.cpp
  ${SAMERING_BROKER_DIR}/src/connection.cpp
  ${SAMERING_BROKER_DIR}/src/broker_selector.cpp
  ${SAMERING_BROKER_DIR}/src/shm_selector.cpp)
target_include_directories(samering_broker_client_obj
  PUBLIC $<BUILD_INTERFACE:${SAMERING_BROKER_DIR}/include> $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>
  PRIVATE ${SAMERING_BROKER_DIR}/src)
# Headers of samering_selector (ring.hpp, error.hpp) without linking it twice into shared libs.
target_include_directories(samering_broker_client_obj PRIVATE
  $<TARGET_PROPERTY:samering_selector,INTERFACE_INCLUDE_DIRECTORIES>)
target_compile_features(samering_broker_client_obj PUBLIC cxx_std_20)
# fmt (Debian libfmt-dev) header-only: libsamering_c gains no library its users must link.
find_package(fmt REQUIRED)
target_link_libraries(samering_broker_client_obj PRIVATE fmt::fmt-header-only)
install(FILES ${SAMERING_BROKER_DIR}/include/samering/broker.hpp DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/samering)
