# Linux packages: vigil-agent and vigil-collector as .deb and .rpm (`make packages`, or
# `cpack -G "DEB;RPM"` in the build directory). Files, maintainer scripts and units come from
# installers/linux; why they are as they are: docs/PACKAGING.md.
#
# The units live in /lib/systemd/system on Debian 12 (its usrmerge rules) and in
# /usr/lib/systemd/system on RPM distributions (where /lib belongs to the filesystem package), so
# each unit is installed by two components and installers/linux/cpack_project_config.cmake picks
# the one for the generator at hand. Components are grouped into one package per program.
#
# VIGIL_PACKAGE_VERSION sets the packages' version (default: the project's); `cpack -D
# CPACK_PACKAGE_VERSION=X` overrides it for one run (the packaging test builds an upgrade so).
set(VIGIL_PACKAGE_VERSION "${PROJECT_VERSION}" CACHE STRING "version of the deb/rpm packages")
set(VIGIL_PKG_MAINTAINER "Vigil maintainers <vigil-maintainers@example.com>" CACHE STRING "package maintainer")
set(_in ${CMAKE_SOURCE_DIR}/installers/linux)
set(_gen ${CMAKE_BINARY_DIR}/packaging)

# --- files -------------------------------------------------------------------------------------
# Full RELRO (read-only GOT after start-up), as Debian's hardening builds link daemons.
foreach(t vigil-agent vigil-collector vigilctl)
  if(TARGET ${t})
    target_link_options(${t} PRIVATE "LINKER:-z,relro" "LINKER:-z,now")
  endif()
endforeach()

if(TARGET vigil-agent)
  install(TARGETS vigil-agent RUNTIME DESTINATION bin COMPONENT agent)
endif()
if(TARGET vigil-collector)
  install(TARGETS vigil-collector RUNTIME DESTINATION bin COMPONENT collector)
endif()
if(TARGET vigilctl)
  install(TARGETS vigilctl RUNTIME DESTINATION bin COMPONENT collector)
endif()

install(FILES ${_in}/etc/agent.toml DESTINATION /etc/vigil COMPONENT agent)
install(PROGRAMS ${_in}/libexec/vigil-agent-enroll DESTINATION libexec/vigil COMPONENT agent)
install(FILES ${_in}/doc/enroll.env.example DESTINATION share/doc/vigil-agent COMPONENT agent)

install(FILES ${_in}/etc/collector.toml DESTINATION /etc/vigil COMPONENT collector)
install(FILES ${_in}/etc/vigil-collector.default DESTINATION /etc/default RENAME vigil-collector COMPONENT collector)
install(FILES ${_in}/sysusers/vigil-collector.conf DESTINATION lib/sysusers.d COMPONENT collector)

# Manual pages, compressed as Debian and Fedora ship them.
file(MAKE_DIRECTORY ${_gen}/man)
foreach(page vigil-agent.8:agent vigil-collector.8:collector vigilctl.1:collector)
  string(REPLACE ":" ";" page "${page}")
  list(GET page 0 name)
  list(GET page 1 comp)
  string(REGEX REPLACE ".*\\.([0-9])$" "\\1" section "${name}")
  configure_file(${_in}/man/${name} ${_gen}/man/${name} COPYONLY)
  execute_process(COMMAND gzip -n -9 -f -k ${_gen}/man/${name} RESULT_VARIABLE _gz)
  if(NOT _gz EQUAL 0)
    message(FATAL_ERROR "gzip of ${_gen}/man/${name} failed")
  endif()
  install(FILES ${_gen}/man/${name}.gz DESTINATION share/man/man${section} COMPONENT ${comp})
endforeach()

foreach(prog agent collector)
  install(FILES ${_in}/systemd/vigil-${prog}.service DESTINATION /lib/systemd/system COMPONENT ${prog}-unit-deb)
  install(FILES ${_in}/systemd/vigil-${prog}.service DESTINATION lib/systemd/system COMPONENT ${prog}-unit-rpm)

  # Debian wants a copyright file and a changelog in every package's doc directory (changelog.gz:
  # the version has no Debian revision, so the package is "native").
  set(_doc ${_gen}/doc/vigil-${prog})
  file(MAKE_DIRECTORY ${_doc})
  string(TIMESTAMP _date "%a, %d %b %Y %H:%M:%S +0000" UTC)  # honours SOURCE_DATE_EPOCH
  file(WRITE ${_doc}/changelog
       "vigil-${prog} (${VIGIL_PACKAGE_VERSION}) stable; urgency=medium\n\n"
       "  * Release ${VIGIL_PACKAGE_VERSION}; see docs/STATUS.md in the source.\n\n"
       " -- ${VIGIL_PKG_MAINTAINER}  ${_date}\n")
  execute_process(COMMAND gzip -n -9 -f -k ${_doc}/changelog RESULT_VARIABLE _gz)
  if(NOT _gz EQUAL 0)
    message(FATAL_ERROR "gzip of ${_doc}/changelog failed")
  endif()
  install(FILES ${_in}/doc/copyright ${CMAKE_SOURCE_DIR}/docs/PACKAGING.md ${_doc}/changelog.gz
          DESTINATION share/doc/vigil-${prog} COMPONENT ${prog})
endforeach()

# --- CPack -------------------------------------------------------------------------------------
set(CPACK_PACKAGE_NAME vigil)
set(CPACK_PACKAGE_VENDOR "Vigil")
set(CPACK_PACKAGE_VERSION "${VIGIL_PACKAGE_VERSION}")
set(CPACK_PACKAGE_CONTACT "${VIGIL_PKG_MAINTAINER}")
set(CPACK_PACKAGE_HOMEPAGE_URL "https://vigil.example.com/")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_OUTPUT_FILE_PREFIX ${CMAKE_BINARY_DIR}/packages)
set(CPACK_GENERATOR "DEB;RPM")
set(CPACK_PROJECT_CONFIG_FILE ${_in}/cpack_project_config.cmake)
set(CPACK_COMPONENTS_GROUPING ONE_PER_GROUP)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_RPM_COMPONENT_INSTALL ON)
set(CPACK_VIGIL_SOURCE_INSTALLERS ${_in})


# Debian.
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_AGENT_PACKAGE_NAME vigil-agent)
set(CPACK_DEBIAN_COLLECTOR_PACKAGE_NAME vigil-collector)
set(CPACK_DEBIAN_AGENT_DESCRIPTION "Vigil insider-risk endpoint agent
Records file, removable-media, print, logon and security-setting activity
on this machine (fanotify, netlink, inotify) and ships it to a Vigil
collector over mutual TLS. The device enrolls at install when VIGIL_SERVER
and VIGIL_ENROLL_TOKEN are given.")
set(CPACK_DEBIAN_COLLECTOR_DESCRIPTION "Vigil insider-risk collector and vigilctl
Receives activity from enrolled Vigil agents over mutual TLS, stores it,
scores it against insider-risk policies and serves the HTTPS API used by
vigilctl and the console. Runs as the unprivileged system user vigil.")
set(CPACK_DEBIAN_COLLECTOR_PACKAGE_DEPENDS "passwd")
foreach(prog agent collector)
  string(TOUPPER ${prog} P)
  set(CPACK_DEBIAN_${P}_PACKAGE_CONTROL_EXTRA
      ${_in}/deb/${prog}/conffiles ${_in}/deb/${prog}/postinst ${_in}/deb/${prog}/prerm ${_in}/deb/${prog}/postrm)
endforeach()

# RPM.
set(CPACK_RPM_FILE_NAME RPM-DEFAULT)
set(CPACK_RPM_PACKAGE_LICENSE "LicenseRef-Proprietary")
set(CPACK_RPM_PACKAGE_GROUP "System Environment/Daemons")
set(CPACK_RPM_PACKAGE_URL "${CPACK_PACKAGE_HOMEPAGE_URL}")
set(CPACK_RPM_PACKAGE_AUTOREQ ON)
set(CPACK_RPM_PACKAGE_RELOCATABLE OFF)
# AutoProv must stay on: a package with %config files gets an automatic "Requires:
# config(NAME) = VERSION" and, with AutoProv off, not the Provides that satisfies it, so rpm and
# dnf refuse to install it (found by tests/packaging/rpm_install.sh). Executables provide nothing
# else automatically.
set(CPACK_RPM_PACKAGE_AUTOPROV ON)
set(CPACK_RPM_AGENT_PACKAGE_NAME vigil-agent)
set(CPACK_RPM_COLLECTOR_PACKAGE_NAME vigil-collector)
set(CPACK_RPM_AGENT_PACKAGE_SUMMARY "Vigil insider-risk endpoint agent")
set(CPACK_RPM_COLLECTOR_PACKAGE_SUMMARY "Vigil insider-risk collector and vigilctl")
set(CPACK_RPM_AGENT_PACKAGE_DESCRIPTION "Records file, removable-media, print, logon and security-setting activity
on this machine and ships it to a Vigil collector over mutual TLS. The
device enrolls at install when VIGIL_SERVER and VIGIL_ENROLL_TOKEN are given.")
set(CPACK_RPM_COLLECTOR_PACKAGE_DESCRIPTION "Receives activity from enrolled Vigil agents over mutual TLS, stores it,
scores it against insider-risk policies and serves the HTTPS API used by
vigilctl. Runs as the unprivileged system user vigil.")
set(CPACK_RPM_SPEC_MORE_DEFINE "%define packager ${VIGIL_PKG_MAINTAINER}")
set(CPACK_RPM_AGENT_USER_FILELIST "%config(noreplace) /etc/vigil/agent.toml")
set(CPACK_RPM_COLLECTOR_USER_FILELIST "%config(noreplace) /etc/vigil/collector.toml" "%config(noreplace) /etc/default/vigil-collector")
set(CPACK_RPM_COLLECTOR_PACKAGE_REQUIRES_PRE "shadow-utils")
set(CPACK_RPM_EXCLUDE_FROM_AUTO_FILELIST_ADDITION
    /etc/default /lib /usr/lib/systemd /usr/lib/systemd/system /usr/lib/sysusers.d /usr/libexec /usr/share/doc
    /usr/share/man /usr/share/man/man1 /usr/share/man/man8)
set(CPACK_RPM_AGENT_POST_INSTALL_SCRIPT_FILE ${_in}/rpm/agent/post)
set(CPACK_RPM_AGENT_PRE_UNINSTALL_SCRIPT_FILE ${_in}/rpm/agent/preun)
set(CPACK_RPM_AGENT_POST_UNINSTALL_SCRIPT_FILE ${_in}/rpm/agent/postun)
set(CPACK_RPM_COLLECTOR_PRE_INSTALL_SCRIPT_FILE ${_in}/rpm/collector/pre)
set(CPACK_RPM_COLLECTOR_POST_INSTALL_SCRIPT_FILE ${_in}/rpm/collector/post)
set(CPACK_RPM_COLLECTOR_PRE_UNINSTALL_SCRIPT_FILE ${_in}/rpm/collector/preun)
set(CPACK_RPM_COLLECTOR_POST_UNINSTALL_SCRIPT_FILE ${_in}/rpm/collector/postun)

# Every CPACK_ variable above is written into CPackConfig.cmake here; the components after it.
include(CPack)

cpack_add_component_group(agent DISPLAY_NAME "vigil-agent")
cpack_add_component_group(collector DISPLAY_NAME "vigil-collector")
foreach(prog agent collector)
  cpack_add_component(${prog} GROUP ${prog})
  cpack_add_component(${prog}-unit-deb GROUP ${prog})
  cpack_add_component(${prog}-unit-rpm GROUP ${prog})
endforeach()
