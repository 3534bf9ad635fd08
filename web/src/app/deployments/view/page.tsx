"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useRouter, useSearchParams } from "next/navigation";
import { Suspense, useState } from "react";

import { TimeSeries } from "@/components/Charts";
import { ErrorText, PageTitle, QueryState, when } from "@/components/States";
import { Badge, Button, Card, Spinner } from "@/components/ui";
import { api, unwrap, type Schemas } from "@/lib/api";

import { TryIt } from "./TryIt";

function CopyBlock({ text, testId }: { text: string; testId?: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <div className="relative">
      <pre className="overflow-x-auto rounded-md bg-gray-900 p-4 pr-20 text-xs text-gray-100" data-testid={testId}>{text}</pre>
      <Button
        variant="ghost"
        className="absolute right-2 top-2 !bg-gray-700 !px-2 !py-1 text-xs !text-white"
        onClick={() => {
          void navigator.clipboard?.writeText(text).then(() => setCopied(true));
        }}
      >
        {copied ? "Copied" : "Copy"}
      </Button>
    </div>
  );
}

function Replicas({ deployment }: { deployment: Schemas["DeploymentRead"] }) {
  const states = deployment.replica_states ?? [];
  if (states.length === 0) return <p className="text-sm text-gray-500">No replica yet.</p>;
  return (
    <ul className="divide-y divide-gray-100">
      {states.map((replica) => (
        <li key={replica.name} className="flex flex-wrap items-center justify-between gap-2 py-2 text-sm">
          <span className="font-medium">{replica.name}{replica.current ? "" : " (draining)"}</span>
          <span className="flex items-center gap-3 text-gray-500">
            {replica.restarts > 0 && `${replica.restarts} restart${replica.restarts === 1 ? "" : "s"}${replica.reason ? `: ${replica.reason}` : ""}`}
            <Badge status={replica.phase} />
          </span>
        </li>
      ))}
    </ul>
  );
}

function Traffic({ id }: { id: string }) {
  const stats = useQuery({
    queryKey: ["deployment", id, "stats"],
    queryFn: async () =>
      unwrap(await api.GET("/api/deployments/{deployment_id}/stats", { params: { path: { deployment_id: id }, query: { window: 3600, step: 60 } } })),
    refetchInterval: 10_000,
  });
  const points = (stats.data?.points ?? []).map((p) => ({
    label: new Date(p.t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }),
    rps: p.requests_per_second,
    p50: p.p50_ms ?? null,
    p99: p.p99_ms ?? null,
    errors: p.errors_4xx + p.errors_5xx,
  }));
  return (
    <QueryState pending={stats.isPending} error={stats.error}>
      {stats.data && (
        <div className="flex flex-col gap-4">
          <p className="text-sm text-gray-600" data-testid="stats-totals">
            Last hour: {stats.data.total_requests} requests, {stats.data.total_errors_4xx} client errors, {stats.data.total_errors_5xx} server errors
            {stats.data.p50_ms != null && `, p50 ${stats.data.p50_ms.toFixed(1)} ms, p99 ${(stats.data.p99_ms ?? 0).toFixed(1)} ms`}.
          </p>
          <div className="grid gap-4 lg:grid-cols-3">
            <div><h3 className="mb-1 text-sm font-medium text-gray-700">Requests per second</h3><TimeSeries testId="chart-rps" points={points} lines={[{ key: "rps", label: "req/s", color: "#059669" }]} /></div>
            <div><h3 className="mb-1 text-sm font-medium text-gray-700">Latency (ms)</h3><TimeSeries testId="chart-latency" points={points} lines={[{ key: "p50", label: "p50", color: "#059669" }, { key: "p99", label: "p99", color: "#6b7280" }]} /></div>
            <div><h3 className="mb-1 text-sm font-medium text-gray-700">Errors</h3><TimeSeries testId="chart-errors" points={points} lines={[{ key: "errors", label: "errors", color: "#dc2626" }]} /></div>
          </div>
        </div>
      )}
    </QueryState>
  );
}

function DeploymentView() {
  const id = useSearchParams().get("id") ?? "";
  const router = useRouter();
  const client = useQueryClient();
  const deployment = useQuery({
    queryKey: ["deployment", id],
    enabled: !!id,
    queryFn: async () => unwrap(await api.GET("/api/deployments/{deployment_id}", { params: { path: { deployment_id: id } } })),
    refetchInterval: 2000,
  });
  const version = useQuery({
    queryKey: ["version", deployment.data?.version_id],
    enabled: !!deployment.data,
    queryFn: async () =>
      unwrap(await api.GET("/api/model-versions/{version_id}", { params: { path: { version_id: deployment.data!.version_id } } })),
  });
  const remove = useMutation({
    mutationFn: async () => {
      const result = await api.DELETE("/api/deployments/{deployment_id}", { params: { path: { deployment_id: id } } });
      if (!result.response.ok) unwrap(result);
    },
    onSuccess: async () => {
      await client.invalidateQueries({ queryKey: ["deployments"] });
      router.push("/deployments/");
    },
  });
  const data = deployment.data;
  const origin = typeof window === "undefined" ? "" : window.location.origin;
  const url = data?.url ? (data.url.startsWith("http") ? data.url : `${origin}${data.url}`) : "";
  const features = (version.data?.signature as { features?: { name: string; type: string }[] | null } | null)?.features ?? null;
  const example = features
    ? JSON.stringify({ records: [Object.fromEntries(features.map((f) => [f.name, f.type === "numeric" ? 0 : ""]))] })
    : JSON.stringify({ instances: [[0]] });

  return (
    <QueryState pending={deployment.isPending} error={deployment.error}>
      {data && (
        <div className="flex flex-col gap-6">
          <PageTitle actions={<Button variant="danger" busy={remove.isPending} onClick={() => remove.mutate()}>Delete deployment</Button>}>
            {data.name} <Badge status={data.status} />
          </PageTitle>
          {remove.error && <ErrorText>{remove.error.message}</ErrorText>}
          {data.reason && data.status !== "ready" && <p className="text-sm text-gray-600">{data.reason}</p>}
          <Card title="Live URL">
            <div className="flex flex-col gap-3">
              <code className="break-all text-sm" data-testid="live-url">{url}</code>
              <CopyBlock
                testId="curl-example"
                text={`curl -X POST ${url} \\\n  -H "Authorization: Bearer $PODML_TOKEN" \\\n  -H "Content-Type: application/json" \\\n  -d '${example}'`}
              />
              <p className="text-xs text-gray-500">
                {data.public ? "Public: no credentials needed." : "Private: send your token, or an API key of this deployment."} Created {when(data.created_at)}.
              </p>
            </div>
          </Card>
          <Card title="Try it">
            <TryIt deploymentId={data.id} features={features} ready={data.status === "ready" || data.status === "degraded" || data.status === "updating"} />
          </Card>
          <Card title={`Replicas: ${data.ready_replicas} of ${data.desired_replicas} ready (${data.min_replicas}–${data.max_replicas})`}>
            <Replicas deployment={data} />
          </Card>
          <Card title="Traffic"><Traffic id={data.id} /></Card>
        </div>
      )}
    </QueryState>
  );
}

export default function Page() {
  return (
    <Suspense fallback={<Spinner />}>
      <DeploymentView />
    </Suspense>
  );
}
