"use client";

import Link from "next/link";
import { useQuery } from "@tanstack/react-query";

import { PageTitle, QueryState, when } from "@/components/States";
import { Badge, Card } from "@/components/ui";
import { api, unwrap } from "@/lib/api";

export default function DeploymentsPage() {
  const deployments = useQuery({
    queryKey: ["deployments", "all"],
    queryFn: async () => unwrap(await api.GET("/api/deployments", { params: { query: { limit: 100 } } })),
    refetchInterval: 3000,
  });
  return (
    <div>
      <PageTitle>Deployments</PageTitle>
      <Card>
        <QueryState pending={deployments.isPending} error={deployments.error} empty={deployments.data?.items.length === 0}
          emptyText="Nothing deployed yet: open a model in the model hub and deploy a ready version.">
          <ul className="divide-y divide-gray-100">
            {deployments.data?.items.map((item) => (
              <li key={item.id} className="flex flex-wrap items-center justify-between gap-2 py-3 text-sm">
                <span>
                  <Link href={`/deployments/view/?id=${item.id}`} className="font-medium">{item.name}</Link>
                  <span className="ml-2 text-gray-500">since {when(item.created_at)}</span>
                </span>
                <span className="flex items-center gap-3 text-gray-500">
                  {item.ready_replicas}/{item.desired_replicas} replicas <Badge status={item.status} />
                </span>
              </li>
            ))}
          </ul>
        </QueryState>
      </Card>
    </div>
  );
}
