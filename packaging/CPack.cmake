# `cpack` in a build folder makes a Debian package with both programs
# (hipp-prune, and hipp-explorer with its desktop entry, icon and AppStream
# metainfo when the app is built). Dependencies are Debian 12's runtime
# packages of what the build links.
set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "hipp-prune")
set(CPACK_PACKAGE_VENDOR "hipp-prune developers")
set(CPACK_PACKAGE_CONTACT "hipp-prune developers <hipp-prune@users.noreply.github.com>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Preference-conditioned structured pruning of vision-language models")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION "science")
set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "libtorch1.13, libopenblas0-openmp, libsqlite3-0, libpq5, libpagmo8, sentencepiece")
if(HIPP_BUILD_APP)
  string(APPEND CPACK_DEBIAN_PACKAGE_DEPENDS ", libqt6widgets6, libqt6printsupport6, libqcustomplot2.1-qt6")
endif()
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS OFF)
include(CPack)
