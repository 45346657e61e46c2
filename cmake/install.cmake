# `cmake --install`: the binary (cli/CMakeLists.txt), man pages and shell completions in the
# places distributions look for them; `cpack -G DEB` builds a Debian package of the same tree.
include(GNUInstallDirs)

file(GLOB azhub_man_pages ${PROJECT_SOURCE_DIR}/man/*.1)
install(FILES ${azhub_man_pages} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)

install(FILES ${PROJECT_SOURCE_DIR}/completions/azhub.bash
        DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME azhub)
install(FILES ${PROJECT_SOURCE_DIR}/completions/_azhub
        DESTINATION ${CMAKE_INSTALL_DATADIR}/zsh/vendor-completions)
install(FILES ${PROJECT_SOURCE_DIR}/completions/azhub.fish
        DESTINATION ${CMAKE_INSTALL_DATADIR}/fish/vendor_completions.d)

set(CPACK_PACKAGE_NAME azhub)
set(CPACK_PACKAGE_VENDOR "azhub")
set(CPACK_PACKAGE_CONTACT "azhub maintainers <azhub@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_INSTALL_DIRECTORY azhub)
set(CPACK_STRIP_FILES ON)
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)  # Depends: from dpkg-shlibdeps (libssl3, libpaho-mqtt1.3, ...)
set(CPACK_PACKAGE_DESCRIPTION
    "SAS tokens, telemetry, cloud-to-device messages, device twins and direct methods over MQTT, \
the service side over the IoT Hub REST API, and a local IoT Hub emulator, so that the same \
commands run offline, in tests and in CI.")
include(CPack)
