"use client";

import Link from "next/link";
import { useQuery } from "@tanstack/react-query";

import { PageTitle, QueryState, when } from "@/components/States";
import { Badge, Card } from "@/components/ui";
import { api, unwrap } from "@/lib/api";

export default function JobsPage() {
  const jobs = useQuery({
    queryKey: ["jobs"],
    queryFn: async () => unwrap(await api.GET("/api/jobs", { params: { query: { limit: 100 } } })),
    refetchInterval: 3000,
  });
  return (
    <div>
      <PageTitle>Training jobs</PageTitle>
      <Card>
        <QueryState pending={jobs.isPending} error={jobs.error} empty={jobs.data?.items.length === 0}
          emptyText="No job yet: save a configuration and start training.">
          <table className="w-full text-left text-sm">
            <thead className="text-gray-500">
              <tr>
                <th className="py-2 pr-4 font-medium">Job</th>
                <th className="py-2 pr-4 font-medium">Status</th>
                <th className="py-2 pr-4 font-medium">Started</th>
                <th className="py-2 font-medium">Duration</th>
              </tr>
            </thead>
            <tbody className="divide-y divide-gray-100">
              {jobs.data?.items.map((job) => (
                <tr key={job.id}>
                  <td className="py-2 pr-4"><Link href={`/jobs/view/?id=${job.id}`}>{job.id.slice(0, 8)}</Link></td>
                  <td className="py-2 pr-4"><Badge status={job.status} /></td>
                  <td className="py-2 pr-4">{when(job.started_at)}</td>
                  <td className="py-2">{job.duration_seconds != null ? `${job.duration_seconds.toFixed(1)} s` : "-"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </QueryState>
      </Card>
    </div>
  );
}
