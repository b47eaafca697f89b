# Read by cpack once per generator (CPACK_PROJECT_CONFIG_FILE): each package format gets the unit
# files at its distribution's path (see cmake/VigilPackaging.cmake).
if(CPACK_GENERATOR STREQUAL "DEB")
  set(CPACK_COMPONENTS_ALL agent agent-unit-deb collector collector-unit-deb)
elseif(CPACK_GENERATOR STREQUAL "RPM")
  set(CPACK_COMPONENTS_ALL agent agent-unit-rpm collector collector-unit-rpm)
endif()
