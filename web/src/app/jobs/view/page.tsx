"use client";

import Link from "next/link";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useSearchParams } from "next/navigation";
import { Suspense } from "react";

import { ConfusionMatrix, Importances, PredictedVsActual } from "@/components/Charts";
import { ErrorText, PageTitle, QueryState, when } from "@/components/States";
import { Badge, Button, Card, Spinner } from "@/components/ui";
import { api, unwrap } from "@/lib/api";

const FINISHED = ["succeeded", "failed", "cancelled"];

interface MetricsDocument {
  task?: string;
  metrics?: Record<string, unknown> & { confusion_matrix?: { labels: unknown[]; matrix: number[][] } | null };
  feature_importances?: { feature: string; importance: number }[] | null;
  feature_importance_method?: string | null;
  predictions_sample?: { actual: number; predicted: number }[] | null;
  train_size?: number;
  test_size?: number;
}

function Scores({ metrics }: { metrics: Record<string, unknown> }) {
  const numbers = Object.entries(metrics).filter(([, value]) => typeof value === "number") as [string, number][];
  return (
    <dl className="grid grid-cols-2 gap-4 sm:grid-cols-4">
      {numbers.map(([name, value]) => (
        <div key={name} className="rounded-md bg-gray-50 p-3" data-testid={`metric-${name}`}>
          <dt className="text-xs uppercase tracking-wide text-gray-500">{name}</dt>
          <dd className="text-lg font-semibold text-gray-900">{Math.abs(value) >= 1000 ? value.toFixed(0) : value.toPrecision(4)}</dd>
        </div>
      ))}
    </dl>
  );
}

function JobView() {
  const id = useSearchParams().get("id") ?? "";
  const client = useQueryClient();
  const job = useQuery({
    queryKey: ["job", id],
    enabled: !!id,
    queryFn: async () => unwrap(await api.GET("/api/jobs/{job_id}", { params: { path: { job_id: id } } })),
    refetchInterval: (query) => (query.state.data && FINISHED.includes(query.state.data.status) ? false : 1500),
  });
  const finished = !!job.data && FINISHED.includes(job.data.status);
  const logs = useQuery({
    queryKey: ["job", id, "logs"],
    enabled: !!id,
    queryFn: async () => unwrap(await api.GET("/api/jobs/{job_id}/logs", { params: { path: { job_id: id } } })),
    refetchInterval: finished ? false : 2000,
  });
  const cancel = useMutation({
    mutationFn: async () => unwrap(await api.POST("/api/jobs/{job_id}/cancel", { params: { path: { job_id: id } } })),
    onSuccess: () => client.invalidateQueries({ queryKey: ["job", id] }),
  });
  const document = (job.data?.metrics ?? null) as MetricsDocument | null;
  const scores = document?.metrics ?? null;

  return (
    <QueryState pending={job.isPending} error={job.error}>
      {job.data && (
        <div className="flex flex-col gap-6">
          <PageTitle actions={!finished && <Button variant="danger" busy={cancel.isPending} onClick={() => cancel.mutate()}>Cancel</Button>}>
            Job {job.data.id.slice(0, 8)} <Badge status={job.data.status} />
          </PageTitle>
          {cancel.error && <ErrorText>{cancel.error.message}</ErrorText>}
          <Card title="Status">
            <dl className="grid gap-2 text-sm sm:grid-cols-3">
              <div><dt className="text-gray-500">Started</dt><dd>{when(job.data.started_at)}</dd></div>
              <div><dt className="text-gray-500">Finished</dt><dd>{when(job.data.finished_at)}</dd></div>
              <div><dt className="text-gray-500">Duration</dt><dd>{job.data.duration_seconds != null ? `${job.data.duration_seconds.toFixed(1)} s` : "-"}</dd></div>
            </dl>
            {job.data.status_message && <p className="mt-3 text-sm text-gray-600">{job.data.status_message}</p>}
            {job.data.error && <div className="mt-3"><ErrorText>{job.data.error}</ErrorText></div>}
            {job.data.model_version_id && (
              <p className="mt-3 text-sm">
                Registered as a model version: <Link href={`/models/view/?id=${job.data.model_id}`}>open it in the model hub</Link> to deploy it.
              </p>
            )}
          </Card>
          {scores && (
            <Card title={`Metrics (${document?.task ?? ""}, ${document?.test_size ?? "?"} test rows)`}>
              <Scores metrics={scores} />
            </Card>
          )}
          {document?.predictions_sample && document.predictions_sample.length > 0 && (
            <Card title="Predicted vs actual (test rows)"><PredictedVsActual points={document.predictions_sample} /></Card>
          )}
          {scores?.confusion_matrix && (
            <Card title="Confusion matrix"><ConfusionMatrix labels={scores.confusion_matrix.labels} matrix={scores.confusion_matrix.matrix} /></Card>
          )}
          {document?.feature_importances && document.feature_importances.length > 0 && (
            <Card title={`Feature importances (${document.feature_importance_method ?? ""})`}><Importances items={document.feature_importances} /></Card>
          )}
          <Card title="Logs">
            <QueryState pending={logs.isPending} error={logs.error} empty={!logs.data?.logs} emptyText="No output yet.">
              <pre className="max-h-96 overflow-auto whitespace-pre-wrap rounded-md bg-gray-900 p-4 text-xs text-gray-100" data-testid="job-logs">
                {logs.data?.logs}
              </pre>
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
      <JobView />
    </Suspense>
  );
}
