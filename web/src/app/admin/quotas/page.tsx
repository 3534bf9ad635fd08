"use client";

// Administrators: per-user quota overrides (`/api/v1/admin/...`). The overrides, one user's
// effective quota (defaults, override, the cluster's ResourceQuota), setting and removing it.
// The user being looked at travels in the query string (`/admin/quotas/?sub=...`).
import Link from "next/link";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useRouter, useSearchParams } from "next/navigation";
import { Suspense, useState, type FormEvent, type ReactNode } from "react";

import { PageTitle, QueryState, when } from "@/components/States";
import { Badge, Button, Card, Input, Spinner } from "@/components/ui";
import { ApiError, api, unwrap, type Schemas } from "@/lib/api";
import { useCurrentUser } from "@/lib/auth/AuthProvider";
import { ClusterState, Effective, QuotaForm } from "@/components/admin/Quota";

type UserQuota = Schemas["UserQuotaRead"];
type QuotaUpdate = Schemas["UserQuotaUpdate"];

const PAGE = 50;
function forbidden(error: Error | null): boolean {
  return error instanceof ApiError && error.status === 403;
}

/** A refusal (403, 404 for an unknown sub) is the answer: ask once. */
function retry(count: number, error: Error): boolean {
  return !(error instanceof ApiError && error.status < 500) && count < 1;
}

function AdminsOnly() {
  return (
    <div>
      <PageTitle>User quotas</PageTitle>
      <Card>
        <p role="alert" className="text-sm text-gray-700">
          <strong className="font-semibold text-gray-900">Administrators only.</strong> This page needs the admin
          role, which your account does not have.
        </p>
      </Card>
    </div>
  );
}

function quotaPath(sub: string): string {
  return `/admin/quotas/?sub=${encodeURIComponent(sub)}`;
}

/** A value of the effective quota: bold when an override sets it, grey when it is the default. */
function Value({ value, overridden }: { value: ReactNode; overridden: boolean }) {
  return overridden ? (
    <span className="font-semibold text-gray-900">{value}</span>
  ) : (
    <span className="text-gray-500">{value} (default)</span>
  );
}

function Overrides({ selected }: { selected: string }) {
  const [offset, setOffset] = useState(0);
  const list = useQuery({
    queryKey: ["admin-quotas", offset],
    retry,
    queryFn: async () =>
      unwrap(await api.GET("/api/v1/admin/quotas", { params: { query: { limit: PAGE, offset } } })),
  });
  const total = list.data?.total ?? 0;
  return (
    <Card title={list.data ? `Overrides (${total})` : "Overrides"}>
      <QueryState
        pending={list.isPending}
        error={list.error}
        empty={list.data?.items.length === 0 && offset === 0}
        emptyText="No override: every user has the platform's defaults."
      >
        <div className="overflow-x-auto">
          <table className="w-full text-left text-sm" data-testid="quota-overrides">
            <thead className="text-gray-500">
              <tr>
                <th className="py-2 pr-4 font-medium">User</th>
                <th className="py-2 pr-4 font-medium">CPU</th>
                <th className="py-2 pr-4 font-medium">Memory</th>
                <th className="py-2 pr-4 font-medium">Pods</th>
                <th className="py-2 pr-4 font-medium">Note</th>
                <th className="py-2 font-medium">Set</th>
              </tr>
            </thead>
            <tbody className="divide-y divide-gray-100">
              {list.data?.items.map((item) => (
                <tr key={item.sub} className={item.sub === selected ? "bg-emerald-50/50" : undefined}>
                  <td className="py-2 pr-4">
                    <Link href={quotaPath(item.sub)} className="font-medium">
                      {item.account?.email ?? item.sub}
                    </Link>
                    {item.account && <div className="font-mono text-xs text-gray-400">{item.sub}</div>}
                  </td>
                  <td className="py-2 pr-4"><Value value={item.cpu} overridden={item.override?.cpu != null} /></td>
                  <td className="py-2 pr-4"><Value value={item.memory} overridden={item.override?.memory != null} /></td>
                  <td className="py-2 pr-4"><Value value={item.pods} overridden={item.override?.pods != null} /></td>
                  <td className="max-w-xs py-2 pr-4 text-gray-600">{item.override?.note ?? ""}</td>
                  <td className="py-2 text-gray-500">
                    {when(item.override?.updated_at)}
                    {item.override && <div className="text-xs">by {item.override.set_by_email ?? item.override.set_by}</div>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        {total > PAGE && (
          <div className="mt-3 flex items-center justify-end gap-2 text-sm text-gray-500">
            {offset + 1}–{Math.min(offset + PAGE, total)} of {total}
            <Button variant="ghost" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
              Previous
            </Button>
            <Button variant="ghost" disabled={offset + PAGE >= total} onClick={() => setOffset(offset + PAGE)}>
              Next
            </Button>
          </div>
        )}
      </QueryState>
    </Card>
  );
}

function Lookup({ initial }: { initial: string }) {
  const router = useRouter();
  const [sub, setSub] = useState(initial);
  function submit(event: FormEvent) {
    event.preventDefault();
    if (sub.trim()) router.push(quotaPath(sub.trim()));
  }
  return (
    <form onSubmit={submit} className="flex flex-wrap items-end gap-3">
      <Input
        label="User sub"
        value={sub}
        onChange={(event) => setSub(event.target.value)}
        hint="The user's id: the sub that GET /api/auth/me gives them (with Cognito, their sub in the user pool)."
        className="min-w-72 flex-1"
        autoComplete="off"
        spellCheck={false}
      />
      <Button type="submit" disabled={!sub.trim()}>
        Look up
      </Button>
    </form>
  );
}

function UserQuotaView({ sub }: { sub: string }) {
  const client = useQueryClient();
  const [done, setDone] = useState<string | null>(null);
  const quota = useQuery({
    queryKey: ["admin-quota", sub],
    retry,
    queryFn: async () =>
      unwrap(await api.GET("/api/v1/admin/users/{sub}/quota", { params: { path: { sub } } })),
  });
  const changed = (answer: UserQuota, message: string) => {
    client.setQueryData(["admin-quota", sub], answer);
    void client.invalidateQueries({ queryKey: ["admin-quotas"] });
    setDone(message);
  };
  const save = useMutation({
    mutationFn: async (update: QuotaUpdate) =>
      unwrap(await api.PUT("/api/v1/admin/users/{sub}/quota", { params: { path: { sub } }, body: update })),
    onMutate: () => {
      setDone(null);
      remove.reset();
    },
    onSuccess: (answer) => changed(answer, "Override saved."),
  });
  const remove = useMutation({
    mutationFn: async () =>
      unwrap(await api.DELETE("/api/v1/admin/users/{sub}/quota", { params: { path: { sub } } })),
    onMutate: () => {
      setDone(null);
      save.reset();
    },
    onSuccess: (answer) => changed(answer, "Override removed: back to the defaults."),
  });
  const data = quota.data;
  return (
    <Card
      title={data?.account ? (data.account.display_name ?? data.account.email) : "User"}
      actions={data && <Badge status={data.source} />}
    >
      <QueryState pending={quota.isPending} error={quota.error}>
        {data && (
          <div className="flex flex-col gap-6" data-testid="user-quota">
            <dl className="grid gap-x-6 gap-y-1 text-sm sm:grid-cols-[auto_1fr]">
              <dt className="text-gray-500">Sub</dt>
              <dd className="font-mono text-xs leading-5">{data.sub}</dd>
              {data.account ? (
                <>
                  <dt className="text-gray-500">Account</dt>
                  <dd>
                    {data.account.email} · {data.account.role}
                    {!data.account.is_active && " · inactive"}
                  </dd>
                </>
              ) : (
                <>
                  <dt className="text-gray-500">Account</dt>
                  <dd className="text-gray-600">not stored here (a Cognito user lives in the pool)</dd>
                </>
              )}
              {data.override && (
                <>
                  <dt className="text-gray-500">Override</dt>
                  <dd>
                    set by {data.override.set_by_email ?? data.override.set_by}, {when(data.override.updated_at)}
                    {data.override.note && <span className="text-gray-600"> · {data.override.note}</span>}
                  </dd>
                </>
              )}
            </dl>
            <Effective quota={data} />
            <section>
              <h3 className="mb-2 text-sm font-semibold text-gray-900">Cluster</h3>
              {data.cluster ? (
                <ClusterState cluster={data.cluster} />
              ) : (
                <p className="text-sm text-gray-600">
                  Local executor: no namespace to write. CPU and memory limit the user&apos;s running training
                  jobs; pods applies once the platform runs on Kubernetes.
                </p>
              )}
            </section>
            <section>
              <h3 className="mb-3 text-sm font-semibold text-gray-900">
                {data.override ? "Change the override" : "Set an override"}
              </h3>
              <QuotaForm
                key={data.override?.updated_at ?? "defaults"}
                quota={data}
                saving={save.isPending}
                removing={remove.isPending}
                error={save.error ?? remove.error}
                onSave={(update) => save.mutate(update)}
                onRemove={() => remove.mutate()}
              />
              {done && (
                <p role="status" className="mt-3 text-sm text-emerald-700">
                  {done}
                </p>
              )}
            </section>
          </div>
        )}
      </QueryState>
    </Card>
  );
}

function QuotasAdmin() {
  const sub = useSearchParams().get("sub") ?? "";
  // The list answers 403 if the role changed since sign-in (e.g. removed from the Cognito group).
  const probe = useQuery({
    queryKey: ["admin-quotas", 0],
    retry,
    queryFn: async () =>
      unwrap(await api.GET("/api/v1/admin/quotas", { params: { query: { limit: PAGE, offset: 0 } } })),
  });
  if (forbidden(probe.error)) return <AdminsOnly />;
  return (
    <div className="flex flex-col gap-6">
      <PageTitle>User quotas</PageTitle>
      <Card title="Look up a user">
        <Lookup key={sub} initial={sub} />
      </Card>
      {sub && <UserQuotaView key={sub} sub={sub} />}
      <Overrides selected={sub} />
    </div>
  );
}

export default function AdminQuotasPage() {
  const { user } = useCurrentUser();
  // The API refuses anyone else (403); their browser does not even ask it.
  if (!user?.isAdmin) return <AdminsOnly />;
  return (
    <Suspense fallback={<Spinner />}>
      <QuotasAdmin />
    </Suspense>
  );
}
