# kubeadm's CoreDNS Deployment runs the image's entrypoint with `-conf /etc/coredns/Corefile`.
FROM scratch
COPY coredns /coredns
EXPOSE 53 53/udp
ENTRYPOINT ["/coredns"]
