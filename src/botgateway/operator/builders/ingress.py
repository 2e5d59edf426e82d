"""The Ingress: only `/webhook/` is published; health and metrics stay inside the cluster."""

from ..spec import BotGatewaySpec
from .common import Manifest, Names, metadata
from .workload import COMPONENT


def ingress(spec: BotGatewaySpec) -> Manifest | None:
    if spec.ingress is None:
        return None
    names = Names(spec.name)
    meta = metadata(spec, names.ingress, COMPONENT)
    if spec.ingress.annotations:
        meta["annotations"] = dict(spec.ingress.annotations)
    body: Manifest = {
        "rules": [
            {
                "host": spec.ingress.host,
                "http": {
                    "paths": [
                        {
                            "path": "/webhook/",
                            "pathType": "Prefix",
                            "backend": {
                                "service": {"name": names.service, "port": {"name": "http"}}
                            },
                        }
                    ]
                },
            }
        ]
    }
    if spec.ingress.class_name:
        body["ingressClassName"] = spec.ingress.class_name
    if spec.ingress.tls_secret_name:
        body["tls"] = [{"hosts": [spec.ingress.host], "secretName": spec.ingress.tls_secret_name}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": meta,
        "spec": body,
    }
