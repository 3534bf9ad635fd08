"use client";

import { useMutation, useQuery } from "@tanstack/react-query";
import { useRouter, useSearchParams } from "next/navigation";
import { Suspense } from "react";

import { ErrorText, PageTitle, QueryState, when } from "@/components/States";
import { Badge, Button, Card, Spinner } from "@/components/ui";
import { api, unwrap } from "@/lib/api";

function ModelView() {
  const id = useSearchParams().get("id") ?? "";
  const router = useRouter();
  const model = useQuery({
    queryKey: ["model", id],
    enabled: !!id,
    queryFn: async () => unwrap(await api.GET("/api/models/{model_id}", { params: { path: { model_id: id } } })),
  });
  const versions = useQuery({
    queryKey: ["model", id, "versions"],
    enabled: !!id,
    queryFn: async () =>
      unwrap(await api.GET("/api/models/{model_id}/versions", { params: { path: { model_id: id }, query: { limit: 100 } } })),
    refetchInterval: (query) => (query.state.data?.items.some((v) => v.status === "building") ? 1500 : false),
  });
  const deploy = useMutation({
    mutationFn: async (versionId: string) => unwrap(await api.POST("/api/deployments", { body: { version_id: versionId } })),
    onSuccess: (deployment) => router.push(`/deployments/view/?id=${deployment.id}`),
  });

  return (
    <QueryState pending={model.isPending} error={model.error}>
      {model.data && (
        <div className="flex flex-col gap-6">
          <PageTitle>{model.data.name}</PageTitle>
          {deploy.error && <ErrorText>{deploy.error.message}</ErrorText>}
          <Card title="Versions">
            <QueryState pending={versions.isPending} error={versions.error} empty={versions.data?.items.length === 0} emptyText="No version yet.">
              <ul className="divide-y divide-gray-100">
                {versions.data?.items.map((version) => (
                  <li key={version.id} className="flex flex-wrap items-center justify-between gap-3 py-3 text-sm">
                    <span className="flex items-center gap-3">
                      <span className="font-medium">{version.version_tag}</span>
                      <Badge status={version.status} />
                      <span className="text-gray-500">{version.source}{version.serving_path ? ` · serves on ${version.serving_path}` : ""} · {when(version.created_at)}</span>
                    </span>
                    {version.status === "ready" && (
                      <Button busy={deploy.isPending && deploy.variables === version.id} onClick={() => deploy.mutate(version.id)}>
                        Deploy {version.version_tag}
                      </Button>
                    )}
                    {version.error && <span className="w-full"><ErrorText>{version.error}</ErrorText></span>}
                  </li>
                ))}
              </ul>
            </QueryState>
          </Card>
        </div>
      )}
    </QueryState>
  );
}

export default function Page() {
  return (
    <Suspense fallback={<Spinner />}>
      <ModelView />
    </Suspense>
  );
}
