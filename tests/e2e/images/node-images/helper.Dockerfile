# local-path-provisioner's helper pods run shell scripts (mkdir, rm) in this image.
ARG ROOTFS
FROM ${ROOTFS}
