"use client";

import Link from "next/link";
import { useQuery } from "@tanstack/react-query";

import { Badge, Card, Spinner } from "@/components/ui";
import { api, unwrap } from "@/lib/api";

function Empty({ children }: { children: React.ReactNode }) {
  return <p className="text-sm text-gray-500">{children}</p>;
}

function Failed({ error }: { error: Error }) {
  return (
    <p role="alert" className="text-sm text-red-600">
      {error.message}
    </p>
  );
}

export default function Dashboard() {
  const configurations = useQuery({
    queryKey: ["configurations"],
    queryFn: async () => unwrap(await api.GET("/api/configurations", { params: { query: { limit: 10 } } })),
  });
  const jobs = useQuery({
    queryKey: ["jobs", "recent"],
    queryFn: async () => unwrap(await api.GET("/api/jobs", { params: { query: { limit: 10 } } })),
    refetchInterval: 3000,
  });
  const deployments = useQuery({
    queryKey: ["deployments"],
    queryFn: async () => unwrap(await api.GET("/api/deployments", { params: { query: { limit: 10 } } })),
    refetchInterval: 5000,
  });

  return (
    <div className="grid gap-6 md:grid-cols-2">
      <h1 className="text-2xl font-semibold text-gray-900 md:col-span-2">Dashboard</h1>
      <Card title="Configurations" actions={<Link href="/configurations/new/">New</Link>}>
        {configurations.isPending ? (
          <Spinner />
        ) : configurations.error ? (
          <Failed error={configurations.error} />
        ) : configurations.data.items.length === 0 ? (
          <Empty>No configuration yet: upload a dataset, then pick its features and target.</Empty>
        ) : (
          <ul className="divide-y divide-gray-100">
            {configurations.data.items.map((item) => (
              <li key={item.id} className="py-2 text-sm">
                {item.name} <span className="text-gray-500">({item.model_type})</span>
              </li>
            ))}
          </ul>
        )}
      </Card>
      <Card title="Recent jobs" actions={<Link href="/jobs/">All jobs</Link>}>
        {jobs.isPending ? (
          <Spinner />
        ) : jobs.error ? (
          <Failed error={jobs.error} />
        ) : jobs.data.items.length === 0 ? (
          <Empty>No training job yet.</Empty>
        ) : (
          <ul className="divide-y divide-gray-100">
            {jobs.data.items.map((job) => (
              <li key={job.id} className="flex items-center justify-between py-2 text-sm">
                <Link href={`/jobs/view/?id=${job.id}`}>{job.id.slice(0, 8)}</Link>
                <Badge status={job.status} />
              </li>
            ))}
          </ul>
        )}
      </Card>
      <Card title="Deployments" className="md:col-span-2" actions={<Link href="/deployments/">All</Link>}>
        {deployments.isPending ? (
          <Spinner />
        ) : deployments.error ? (
          <Failed error={deployments.error} />
        ) : deployments.data.items.length === 0 ? (
          <Empty>Nothing deployed yet: deploy a ready version from the model hub.</Empty>
        ) : (
          <ul className="divide-y divide-gray-100">
            {deployments.data.items.map((item) => (
              <li key={item.id} className="flex items-center justify-between py-2 text-sm">
                <Link href={`/deployments/view/?id=${item.id}`}>{item.name}</Link>
                <span className="flex items-center gap-3 text-gray-500">
                  {item.ready_replicas}/{item.desired_replicas} replicas <Badge status={item.status} />
                </span>
              </li>
            ))}
          </ul>
        )}
      </Card>
    </div>
  );
}
