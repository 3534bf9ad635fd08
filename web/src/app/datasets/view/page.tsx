"use client";

import Link from "next/link";
import { useQuery } from "@tanstack/react-query";
import { useSearchParams } from "next/navigation";
import { Suspense } from "react";

import { PageTitle, QueryState } from "@/components/States";
import { Badge, Card, Spinner } from "@/components/ui";
import { api, unwrap } from "@/lib/api";

function DatasetView() {
  const id = useSearchParams().get("id") ?? "";
  const dataset = useQuery({
    queryKey: ["dataset", id],
    enabled: !!id,
    queryFn: async () => unwrap(await api.GET("/api/datasets/{dataset_id}", { params: { path: { dataset_id: id } } })),
  });
  const preview = useQuery({
    queryKey: ["dataset", id, "preview"],
    enabled: !!id,
    queryFn: async () =>
      unwrap(await api.GET("/api/datasets/{dataset_id}/preview", { params: { path: { dataset_id: id }, query: { rows: 20 } } })),
  });
  return (
    <QueryState pending={dataset.isPending} error={dataset.error}>
      {dataset.data && (
        <div className="flex flex-col gap-6">
          <PageTitle actions={<Link href={`/configurations/new/?dataset=${id}`}>Train a model on it</Link>}>
            {dataset.data.name}
          </PageTitle>
          <Card title={`Schema: ${dataset.data.row_count.toLocaleString()} rows`}>
            <ul className="grid gap-2 sm:grid-cols-2 lg:grid-cols-3">
              {dataset.data.columns.map((column) => (
                <li key={column.name} className="flex items-center justify-between rounded-md border border-gray-100 px-3 py-2 text-sm">
                  <span className="font-medium">{column.name}</span>
                  <span className="flex items-center gap-2 text-xs text-gray-500">
                    {column.missing ? `${column.missing} missing` : null}
                    <Badge status={column.dtype} />
                  </span>
                </li>
              ))}
            </ul>
          </Card>
          <Card title="Preview">
            <QueryState pending={preview.isPending} error={preview.error}>
              <div className="overflow-x-auto">
                <table className="w-full text-left text-sm">
                  <thead className="text-gray-500">
                    <tr>{preview.data?.columns.map((name) => <th key={name} className="py-1 pr-4 font-medium">{name}</th>)}</tr>
                  </thead>
                  <tbody className="divide-y divide-gray-100">
                    {preview.data?.rows.map((row, r) => (
                      <tr key={r}>
                        {preview.data.columns.map((name) => (
                          <td key={name} className="py-1 pr-4">
                            {row[name] === null || row[name] === undefined ? <span className="text-gray-400">—</span> : String(row[name])}
                          </td>
                        ))}
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
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
      <DatasetView />
    </Suspense>
  );
}
