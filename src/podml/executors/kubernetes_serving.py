"""`KubernetesServing`: each deployment is the Deployment, Service, HPA (and, public ones, Ingress)
of `podml.kubernetes.serving`, in the owner's namespace.

* `apply_serving` creates the objects, or merge-patches them when they exist: a new revision
  (another version, other resources) changes the pod template, which is a rolling update with
  `maxUnavailable: 0` (no failed request); new bounds patch the HPA; the Deployment's replica count
  is written only when it is created or when the bounds pin it (the HPA owns it otherwise). A
  deployment that stops being public loses its Ingress. The pod contract (signed URLs) is the
  revision's Secret: the same revision applied again with re-signed URLs patches only the Secret,
  so nothing rolls out; Secrets of revisions no pod uses any more are deleted.
* `observe_serving` reads the Deployment and its pods: a pod is `ready` when its Ready condition is
  true, `failed` when its container waits in CrashLoopBackOff, ImagePullBackOff or ErrImagePull
  (with the last termination's reason, e.g. OOMKilled), `stopping` when it is being deleted,
  `starting` otherwise. The revision behind traffic is the template's once one of its pods is
  ready, else the newest revision with a ready pod. When every pod of the current revision has
  crashed three times or more, the deployment has failed, with the reason.
* Deployments and their pods are watched (`kubernetes_watch.Informer`, started by `upkeep` in every
  platform process, so an API replica beside the worker knows them too), with a periodic resync;
  observations read the cache and go to the API only for what it does not hold.
* `endpoints` answers from memory (it must not block): the ready pods' own addresses
  (`http://<pod IP>:8080`), not the Service. The gateway keeps connections alive and spreads each
  request over the ready pods itself; through the Service, kube-proxy would pick a pod once per
  connection, and pods the HPA adds would get no traffic until connections turned over (why Knative's
  activator routes to pods too). Until the pod cache is synced it falls back to the Service's DNS
  name. NetworkPolicy: the platform's namespace may reach model-server pods on 8080 (`namespaces`).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from functools import partial
from typing import Any, Final

from kubernetes_asyncio.client.exceptions import ApiException

from podml.executors.base import (
    ExecutorError,
    ReplicaPhase,
    ServingExecutor,
    ServingObservation,
    ServingSpec,
    serving_name,
)
from podml.executors.kubernetes_api import MERGE_PATCH, KubeApi, refused
from podml.executors.kubernetes_replicas import labels_of as _labels
from podml.executors.kubernetes_replicas import replica, replica_failure, serves
from podml.executors.kubernetes_watch import Informer
from podml.kubernetes.labels import user_label
from podml.kubernetes.namespaces import LABEL_NEEDS_INDEX, namespace_name
from podml.kubernetes.serving import (
    LABEL_DEPLOYMENT,
    LABEL_REVISION,
    PORT,
    ServingObjects,
    secret_name,
    serving_objects,
)

log = logging.getLogger(__name__)
FAILED_AFTER_RESTARTS: Final = 3
SECRETS_LOOKED_BACK: Final = 3  # revisions before the current one whose Secrets are deleted


class KubernetesServing(ServingExecutor):
    def __init__(
        self,
        kube: KubeApi,
        *,
        serving_image: str,
        pull_policy: str = "IfNotPresent",
        resync_seconds: float = 30.0,
        ingress_class: str = "nginx",
        ingress_host: str = "",
    ) -> None:
        self.kube = kube
        self.serving_image = serving_image
        self.pull_policy = pull_policy
        # Public deployments' Ingress (PODML_KUBERNETES_INGRESS_CLASS / _HOST).
        self.ingress_class = ingress_class
        self.ingress_host = ingress_host
        self._where: dict[uuid.UUID, str] = {}  # deployment id -> namespace
        self._ready: dict[uuid.UUID, bool] = {}
        self._revisions: dict[uuid.UUID, int] = {}  # the last revision this process applied
        # Per kind: its name in messages, its create and its (merge) patch. Any: the client's stubs do
        # not declare `_content_type` (merge patches; no strategic merge).
        core: Any = kube.core
        apps: Any = kube.apps
        hpa: Any = kube.autoscaling
        net: Any = kube.networking
        self._writers: dict[str, tuple[str, Any, Any]] = {
            "Secret": ("Secret", core.create_namespaced_secret, core.patch_namespaced_secret),
            "Deployment": ("Deployment", apps.create_namespaced_deployment, apps.patch_namespaced_deployment),
            "Service": ("Service", core.create_namespaced_service, core.patch_namespaced_service),
            "HorizontalPodAutoscaler": (
                "HPA",
                hpa.create_namespaced_horizontal_pod_autoscaler,
                hpa.patch_namespaced_horizontal_pod_autoscaler,
            ),
            "Ingress": ("Ingress", net.create_namespaced_ingress, net.patch_namespaced_ingress),
        }
        resync = resync_seconds
        self.deployments = Informer(
            kube,
            "Deployments",
            apps.list_deployment_for_all_namespaces,
            label=LABEL_DEPLOYMENT,
            resync_seconds=resync,
        )
        self.pods = Informer(
            kube,
            "model-server pods",
            core.list_pod_for_all_namespaces,
            label=LABEL_DEPLOYMENT,
            resync_seconds=resync,
        )
        self._endpoints: dict[uuid.UUID, tuple[int, list[str]]] = {}  # id -> (pods.version, URLs)

    def objects(self, spec: ServingSpec, namespace: str) -> ServingObjects:
        resources = spec.resources
        return ServingObjects(
            deployment_id=str(spec.deployment_id),
            user=user_label(spec.owner_sub),
            namespace=namespace,
            revision=spec.revision,
            image=self.serving_image,
            env=dict(spec.env),
            requests={"cpu": resources.cpu_request, "memory": resources.memory_request},
            limits={"cpu": resources.cpu_limit, "memory": resources.memory_limit},
            replicas=spec.replicas,
            min_replicas=spec.min_replicas,
            max_replicas=spec.max_replicas,
            public=spec.public,
            ingress_class=self.ingress_class,
            ingress_host=self.ingress_host,
            pull_policy=self.pull_policy,
            # Only a model that declares requirements may reach the package index (its namespace's
            # NetworkPolicy `allow-package-index` selects "true"). Always written, "false" too: a
            # merge patch keeps labels it does not mention, so a switch to a version without
            # requirements would otherwise keep the access.
            extra_labels={LABEL_NEEDS_INDEX: "true" if spec.env.get("REQUIREMENTS_URL") else "false"},
        )

    async def apply_serving(self, spec: ServingSpec) -> None:
        namespace = await self.kube.ensure_namespace(spec.owner_sub)
        objects = self.objects(spec, namespace)
        for obj in serving_objects(objects):
            await self._apply(namespace, obj, pinned=spec.min_replicas == spec.max_replicas)
        if not spec.public:  # no longer public: no route past the gateway
            name, net = objects.name, self.kube.networking
            await self._delete(f"Ingress {name}", lambda: net.delete_namespaced_ingress(name, namespace))
        self._where[spec.deployment_id] = namespace
        self._revisions[spec.deployment_id] = spec.revision
        await self._drop_secrets(namespace, spec.deployment_id, spec.revision, keep=True)

    async def _apply(self, namespace: str, obj: dict[str, Any], *, pinned: bool) -> None:
        """Create the object, or merge-patch it when it exists. The Deployment's replica count is
        the HPA's to decide unless the bounds pin it."""
        kind, create, patch = self._writers[obj["kind"]]
        name = obj["metadata"]["name"]
        what = f"{kind} {name}"
        if not await self.kube.create(what, lambda: create(namespace, obj)):
            if obj["kind"] == "Deployment" and not pinned:
                del obj["spec"]["replicas"]
            await self._patch(what, lambda: patch(name, namespace, obj, _content_type=MERGE_PATCH))

    async def _drop_secrets(
        self, namespace: str, deployment_id: uuid.UUID, revision: int, *, keep: bool
    ) -> None:
        """Delete the Secrets of `revision` and the `SECRETS_LOOKED_BACK` before it; with `keep`, only
        those of older revisions that no pod uses any more (a Secret still in use goes at the next
        apply; the URLs are re-signed well before they expire). By name: listing Secrets would let
        the platform read every Secret of the cluster."""
        in_use: set[int] = set()
        if keep:
            try:
                pods = await self._pods(namespace, deployment_id)
            except ExecutorError as exc:
                log.warning("deployment %s: old Secrets not deleted yet: %s", deployment_id, exc)
                return
            in_use = {revision} | {int(_labels(p).get(LABEL_REVISION) or 0) for p in pods}
        for old in range(max(1, revision - SECRETS_LOOKED_BACK), revision + 1):
            if old in in_use:
                continue
            name = secret_name(str(deployment_id), old)
            try:
                await self._delete(
                    f"Secret {name}", partial(self.kube.core.delete_namespaced_secret, name, namespace)
                )
            except ExecutorError as exc:
                log.warning("deployment %s: Secret %s not deleted yet: %s", deployment_id, name, exc)

    async def _patch(self, what: str, patch: Any) -> None:
        try:
            await self.kube.call(what, patch)
        except ApiException as exc:
            raise refused(what, exc) from exc

    async def _delete(self, what: str, delete: Any) -> None:
        await self.kube.ask_unless_absent(f"delete {what}", delete)  # absent: deleted already

    async def _find(self, deployment_id: uuid.UUID) -> tuple[str, Any] | None:
        name = serving_name(deployment_id)
        for cached in self.deployments.select(str(deployment_id)) if self.deployments.synced else ():
            if cached.metadata.name == name:
                self._where[deployment_id] = cached.metadata.namespace
                return cached.metadata.namespace, cached
        namespace = self._where.get(deployment_id)
        if namespace is None:
            await self.refresh()
            namespace = self._where.get(deployment_id)
            if namespace is None:
                return None
        found = await self.kube.ask_unless_absent(
            f"read Deployment {name}", lambda: self.kube.apps.read_namespaced_deployment(name, namespace)
        )
        if found is None:
            self._where.pop(deployment_id, None)
            return None
        return namespace, found

    async def refresh(self) -> None:
        """Learn every PodML deployment's namespace and readiness (for `endpoints`)."""
        listed = await self.kube.ask(
            "list Deployments",
            lambda: self.kube.apps.list_deployment_for_all_namespaces(label_selector=LABEL_DEPLOYMENT),
        )
        for item in listed.items:
            labels = _labels(item)
            if LABEL_DEPLOYMENT not in labels:  # the selector is applied here too
                continue
            try:
                deployment_id = uuid.UUID(labels[LABEL_DEPLOYMENT])
            except ValueError:
                continue
            self._where[deployment_id] = item.metadata.namespace
            self._ready[deployment_id] = bool(item.status and (item.status.ready_replicas or 0) > 0)

    async def observe_serving(self, deployment_id: uuid.UUID) -> ServingObservation:
        found = await self._find(deployment_id)
        if found is None:
            self._ready.pop(deployment_id, None)
            return ServingObservation(exists=False)
        namespace, item = found
        template_revision = int(_labels(item.spec.template).get(LABEL_REVISION, "0") or 0)
        replicas = tuple(replica(pod) for pod in await self._pods(namespace, deployment_id))
        ready_revisions = Counter(r.revision for r in replicas if r.phase == ReplicaPhase.READY)
        if template_revision in ready_revisions or not ready_revisions:
            revision = template_revision
        else:
            revision = max(ready_revisions)
        current = [r for r in replicas if r.revision == template_revision]
        failure = replica_failure(item)  # e.g. the namespace's quota refused the pods
        if current and all(
            r.phase == ReplicaPhase.FAILED and r.restarts >= FAILED_AFTER_RESTARTS for r in current
        ):
            failure = current[-1].reason or "every replica keeps crashing"
        self._ready[deployment_id] = bool(ready_revisions)
        desired = item.spec.replicas if item.spec.replicas is not None else len(current)
        return ServingObservation(
            exists=True, revision=revision, desired_replicas=desired, replicas=replicas, failure=failure
        )

    async def _pods(self, namespace: str, deployment_id: uuid.UUID) -> list[Any]:
        if self.pods.synced:
            return [p for p in self.pods.select(str(deployment_id)) if p.metadata.namespace == namespace]
        listed = await self.kube.ask(
            "list pods",
            lambda: self.kube.core.list_namespaced_pod(
                namespace, label_selector=f"{LABEL_DEPLOYMENT}={deployment_id}"
            ),
        )
        return [p for p in listed.items if _labels(p).get(LABEL_DEPLOYMENT) == str(deployment_id)]

    async def delete_serving(
        self, deployment_id: uuid.UUID, *, owner_sub: str | None = None, revision: int | None = None
    ) -> None:
        known = self._where.get(deployment_id) or (namespace_name(owner_sub) if owner_sub else None)
        found = await self._find(deployment_id)
        if found is not None:
            namespace: str = found[0]
            revision = int(_labels(found[1].spec.template).get(LABEL_REVISION) or 0)
        elif known is not None:  # no Deployment (deleted by hand?): the rest may be left
            namespace = known
            revision = revision or self._revisions.get(deployment_id)
        else:
            return
        name = serving_name(deployment_id)
        kube = self.kube
        await self._delete(
            f"Ingress {name}", lambda: kube.networking.delete_namespaced_ingress(name, namespace)
        )
        await self._delete(
            f"HPA {name}",
            lambda: kube.autoscaling.delete_namespaced_horizontal_pod_autoscaler(name, namespace),
        )
        await self._delete(f"Service {name}", lambda: kube.core.delete_namespaced_service(name, namespace))
        await self._delete(
            f"Deployment {name}",
            lambda: kube.apps.delete_namespaced_deployment(name, namespace, propagation_policy="Foreground"),
        )
        if revision:
            await self._drop_secrets(namespace, deployment_id, revision, keep=False)
        self._where.pop(deployment_id, None)
        self._ready.pop(deployment_id, None)
        self._endpoints.pop(deployment_id, None)
        self._revisions.pop(deployment_id, None)

    async def prepare(self) -> None:
        self.deployments.start()
        self.pods.start()

    async def upkeep(self) -> None:
        """Watch the deployments and their pods for the life of the process (`endpoints`)."""
        await self.prepare()
        try:
            await asyncio.Event().wait()
        finally:
            await self.deployments.stop()
            await self.pods.stop()

    async def close(self) -> None:
        await self.deployments.stop()
        await self.pods.stop()

    def endpoints(self, deployment_id: uuid.UUID) -> list[str]:
        if self.pods.synced:
            cached = self._endpoints.get(deployment_id)
            if cached is not None and cached[0] == self.pods.version:
                return cached[1]
            urls = sorted(
                f"http://{pod.status.pod_ip}:{PORT}"
                for pod in self.pods.select(str(deployment_id))
                if serves(pod)
            )
            self._endpoints[deployment_id] = (self.pods.version, urls)
            return urls
        namespace = self._where.get(deployment_id)
        if namespace is None or not self._ready.get(deployment_id):
            return []
        return [f"http://{serving_name(deployment_id)}.{namespace}.svc.cluster.local"]
