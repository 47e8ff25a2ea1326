# Debian's libcaf-dev (0.17.6) ships no CMake config: declare imported targets.
find_path(CAF_INCLUDE_DIR caf/all.hpp REQUIRED)
foreach(part core io openssl)
  find_library(CAF_${part}_LIBRARY caf_${part} REQUIRED)
  add_library(caf::${part} SHARED IMPORTED)
  set_target_properties(caf::${part} PROPERTIES
    IMPORTED_LOCATION "${CAF_${part}_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${CAF_INCLUDE_DIR}")
endforeach()
find_package(Threads REQUIRED)
set_property(TARGET caf::core APPEND PROPERTY INTERFACE_LINK_LIBRARIES Threads::Threads)
set_property(TARGET caf::io APPEND PROPERTY INTERFACE_LINK_LIBRARIES caf::core)
set_property(TARGET caf::openssl APPEND PROPERTY INTERFACE_LINK_LIBRARIES caf::io)
