# CPACK_PRE_BUILD_SCRIPTS of rpm_install.sh's upgrade build: its packaged conffiles differ from
# the first build's, as when a release changes a default, so the upgrade has to keep the
# administrator's edited file (%config(noreplace)) and put the package's beside it (.rpmnew).
file(GLOB_RECURSE _confs "${CPACK_TEMPORARY_DIRECTORY}/*/etc/vigil/*.toml")
if(NOT _confs)
  message(FATAL_ERROR "upgrade_conffiles.cmake: no etc/vigil/*.toml under ${CPACK_TEMPORARY_DIRECTORY}")
endif()
foreach(_f IN LISTS _confs)
  file(APPEND "${_f}" "\n# upgradetest: this release changed the packaged file\n")
endforeach()
