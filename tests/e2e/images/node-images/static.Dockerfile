# One static Go binary on an empty image, on PATH under its own name (kubeadm's static pods and
# kind's manifests run them by name).
FROM scratch
ARG NAME
COPY binary /usr/local/bin/${NAME}
ENV PATH=/usr/local/bin
