# Stands in for kindnetd, whose source the Go module proxy does not serve: kind's manifest runs
# this image as the `kindnet` DaemonSet (host network, /etc/cni/net.d mounted).
ARG ROOTFS
FROM ${ROOTFS}
COPY cni-standin.sh /usr/local/bin/cni-standin
RUN chmod 0755 /usr/local/bin/cni-standin
ENTRYPOINT ["/usr/local/bin/cni-standin"]
