"use client";

import Link from "next/link";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";

import { DropZone, ProgressBar } from "@/components/DropZone";
import { ErrorText, PageTitle, QueryState, when } from "@/components/States";
import { Card } from "@/components/ui";
import { api, unwrap } from "@/lib/api";
import { fetchWithProgress } from "@/lib/upload";

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1 << 20) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
}

export default function DatasetsPage() {
  const client = useQueryClient();
  const [progress, setProgress] = useState<number | null>(null);
  const datasets = useQuery({
    queryKey: ["datasets"],
    queryFn: async () => unwrap(await api.GET("/api/datasets", { params: { query: { limit: 100 } } })),
  });
  const upload = useMutation({
    mutationFn: async (file: File) => {
      setProgress(0);
      const form = new FormData();
      form.append("file", file);
      return unwrap(
        await api.POST("/api/datasets", {
          body: { file: file as unknown as string },
          bodySerializer: () => form,
          fetch: fetchWithProgress(setProgress),
        }),
      );
    },
    onSettled: () => setProgress(null),
    onSuccess: () => client.invalidateQueries({ queryKey: ["datasets"] }),
  });

  return (
    <div className="flex flex-col gap-6">
      <PageTitle>Datasets</PageTitle>
      <Card title="Upload a CSV">
        <DropZone testId="dataset-drop" label="Drop a CSV file here" accept=".csv,text/csv" onFiles={([file]) => upload.mutate(file)} />
        {progress !== null && (
          <div className="mt-4 flex flex-col gap-1">
            <ProgressBar fraction={progress} />
            <p className="text-xs text-gray-500">{progress < 1 ? `Uploading… ${Math.round(progress * 100)}%` : "Reading the file…"}</p>
          </div>
        )}
        {upload.error && <div className="mt-4"><ErrorText>{upload.error.message}</ErrorText></div>}
        {upload.data && (
          <p className="mt-4 text-sm text-emerald-700">
            Uploaded <Link href={`/datasets/view/?id=${upload.data.id}`}>{upload.data.name}</Link>: {upload.data.row_count} rows,{" "}
            {upload.data.columns.length} columns.
          </p>
        )}
      </Card>
      <Card title="Your datasets">
        <QueryState
          pending={datasets.isPending}
          error={datasets.error}
          empty={datasets.data?.items.length === 0}
          emptyText="No dataset yet: drop a CSV above."
        >
          <div className="overflow-x-auto">
            <table className="w-full text-left text-sm">
              <thead className="text-gray-500">
                <tr>
                  <th className="py-2 pr-4 font-medium">Name</th>
                  <th className="py-2 pr-4 font-medium">Rows</th>
                  <th className="py-2 pr-4 font-medium">Columns</th>
                  <th className="py-2 pr-4 font-medium">Size</th>
                  <th className="py-2 font-medium">Uploaded</th>
                </tr>
              </thead>
              <tbody className="divide-y divide-gray-100">
                {datasets.data?.items.map((item) => (
                  <tr key={item.id}>
                    <td className="py-2 pr-4">
                      <Link href={`/datasets/view/?id=${item.id}`}>{item.name}</Link>
                    </td>
                    <td className="py-2 pr-4">{item.row_count.toLocaleString()}</td>
                    <td className="py-2 pr-4">{item.columns.length}</td>
                    <td className="py-2 pr-4">{size(item.size_bytes)}</td>
                    <td className="py-2">{when(item.created_at)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </QueryState>
      </Card>
    </div>
  );
}
