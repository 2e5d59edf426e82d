# The pod sandbox: Kubernetes' pause.c, compiled statically (build/pause/linux in its module).
FROM scratch
COPY pause /pause
USER 65535:65535
ENTRYPOINT ["/pause"]
