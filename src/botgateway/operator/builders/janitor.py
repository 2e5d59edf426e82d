"""The janitor CronJob: `botgateway janitor --once`, one run at a time, bounded in time."""

from typing import Any

from ..spec import BotGatewaySpec
from .common import (
    Manifest,
    Names,
    command_env,
    container_security_context,
    database_env,
    image_fields,
    labels,
    metadata,
    pod_security_context,
)

COMPONENT = "janitor"


def cron_job(spec: BotGatewaySpec, *, image: str) -> Manifest | None:
    if not spec.janitor.enabled:
        return None
    janitor = spec.janitor
    container: dict[str, Any] = {
        "name": "janitor",
        **image_fields(spec, image),
        "command": ["botgateway"],
        "args": ["janitor", "--once"],
        "env": [
            database_env(spec),
            *command_env(spec, "janitor"),
        ],
        "securityContext": container_security_context(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    if spec.resources:
        container["resources"] = dict(spec.resources)
    pod_meta = {"labels": labels(spec, COMPONENT)}
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": metadata(spec, Names(spec.name).janitor, COMPONENT),
        "spec": {
            "schedule": janitor.schedule,
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": janitor.starting_deadline_seconds,
            "successfulJobsHistoryLimit": 1,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "metadata": pod_meta,
                "spec": {
                    "backoffLimit": 2,
                    "activeDeadlineSeconds": janitor.active_deadline_seconds,
                    "ttlSecondsAfterFinished": janitor.ttl_seconds_after_finished,
                    "template": {
                        "metadata": pod_meta,
                        "spec": {
                            "restartPolicy": "Never",
                            "automountServiceAccountToken": False,
                            "enableServiceLinks": False,
                            "securityContext": pod_security_context(),
                            "containers": [container],
                            "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}}],
                        },
                    },
                },
            },
        },
    }
