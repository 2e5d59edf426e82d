# kube-proxy needs iptables, ip6tables and conntrack beside it.
ARG ROOTFS
FROM ${ROOTFS}
COPY kube-proxy /usr/local/bin/kube-proxy
