// The pieces of the administrators' quota page: one user's effective quota, their namespace's
// ResourceQuota as the cluster has it, and the override form.
import { useState, type FormEvent, type ReactNode } from "react";

import { ErrorText } from "@/components/States";
import { Badge, Button, Input } from "@/components/ui";
import { ApiError, type Schemas } from "@/lib/api";

type UserQuota = Schemas["UserQuotaRead"];
type QuotaUpdate = Schemas["UserQuotaUpdate"];

const FIELDS = ["cpu", "memory", "pods", "note"] as const;
const CLUSTER_STATUS: Record<string, string> = {
  applied: "The namespace's ResourceQuota has these limits.",
  not_created: "The user has no namespace yet: it is created with this quota on their first job or deployment.",
  out_of_sync: "The cluster has other limits than these: save the override again to write them.",
  failed: "The cluster could not be written or read; a stored override is kept: save it again.",
};

export function ClusterState({ cluster }: { cluster: NonNullable<UserQuota["cluster"]> }) {
  const keys = Object.keys({ ...cluster.hard, ...cluster.used }).sort();
  return (
    <div className="flex flex-col gap-2 text-sm" data-testid="cluster-quota">
      <p className="flex flex-wrap items-center gap-2">
        <span className="text-gray-500">Namespace</span>
        <code className="font-mono">{cluster.namespace}</code>
        <Badge status={cluster.status} />
      </p>
      {cluster.status === "failed" ? (
        <ErrorText>{cluster.message ?? CLUSTER_STATUS.failed}</ErrorText>
      ) : (
        <p className={cluster.status === "out_of_sync" ? "text-amber-800" : "text-gray-600"}>
          {cluster.message ?? CLUSTER_STATUS[cluster.status]}
        </p>
      )}
      {keys.length > 0 && (
        <table className="w-full max-w-md text-left">
          <thead className="text-gray-500">
            <tr>
              <th className="py-1 pr-4 font-medium">Resource</th>
              <th className="py-1 pr-4 font-medium">Used</th>
              <th className="py-1 font-medium">Limit</th>
            </tr>
          </thead>
          <tbody className="divide-y divide-gray-100">
            {keys.map((key) => (
              <tr key={key}>
                <td className="py-1 pr-4 font-mono text-xs">{key}</td>
                <td className="py-1 pr-4">{cluster.used?.[key] ?? "-"}</td>
                <td className="py-1">{cluster.hard?.[key] ?? "-"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

export function Effective({ quota }: { quota: UserQuota }) {
  const rows: [string, ReactNode, ReactNode, ReactNode][] = [
    ["CPU", quota.cpu, quota.defaults.cpu, quota.override?.cpu],
    ["Memory", quota.memory, quota.defaults.memory, quota.override?.memory],
    ["Pods", quota.pods, quota.defaults.pods, quota.override?.pods],
  ];
  return (
    <table className="w-full max-w-lg text-left text-sm" data-testid="effective-quota">
      <thead className="text-gray-500">
        <tr>
          <th className="py-2 pr-4 font-medium"><span className="sr-only">Resource</span></th>
          <th className="py-2 pr-4 font-medium">Effective</th>
          <th className="py-2 pr-4 font-medium">Default</th>
          <th className="py-2 font-medium">Override</th>
        </tr>
      </thead>
      <tbody className="divide-y divide-gray-100">
        {rows.map(([name, value, fallback, override]) => (
          <tr key={name}>
            <th scope="row" className="py-2 pr-4 font-medium text-gray-700">{name}</th>
            <td className="py-2 pr-4 font-semibold text-gray-900">{value}</td>
            <td className="py-2 pr-4 text-gray-600">{fallback}</td>
            <td className="py-2 text-gray-600">{override ?? <span className="text-gray-400">follows the default</span>}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** The form's text as the PUT body: an empty field follows the default (null). Pods that are not a
 * whole number go as typed, so the API's own 422 says what is wrong with them. */
function body(values: Record<(typeof FIELDS)[number], string>): QuotaUpdate {
  const pods = values.pods.trim();
  return {
    cpu: values.cpu.trim() || null,
    memory: values.memory.trim() || null,
    pods: pods === "" ? null : /^\d+$/.test(pods) ? Number(pods) : (pods as unknown as number),
    note: values.note.trim() || null,
  };
}

/** The three limits of the form, each with what it accepts. */
const LIMITS = [
  { name: "cpu", label: "CPU", hint: "Cores or millicores (500m, 2, 1.5)" },
  { name: "memory", label: "Memory", hint: "With a unit (512Mi, 4Gi, 8G)" },
  { name: "pods", label: "Pods", hint: "1 to 10,000" },
] as const;

export function QuotaForm({ quota, saving, removing, error, onSave, onRemove }: {
  quota: UserQuota;
  saving: boolean;
  removing: boolean;
  error: Error | null;
  onSave(update: QuotaUpdate): void;
  onRemove(): void;
}) {
  const override = quota.override;
  const [values, setValues] = useState({
    cpu: override?.cpu ?? "",
    memory: override?.memory ?? "",
    pods: override?.pods != null ? String(override.pods) : "",
    note: override?.note ?? "",
  });
  const fields = error instanceof ApiError ? error.fields : {};
  const onlyFieldErrors =
    Object.keys(fields).length > 0 && Object.keys(fields).every((key) => (FIELDS as readonly string[]).includes(key));
  const set = (name: (typeof FIELDS)[number]) => (event: { target: { value: string } }) =>
    setValues({ ...values, [name]: event.target.value });

  function submit(event: FormEvent) {
    event.preventDefault();
    onSave(body(values));
  }
  return (
    <form onSubmit={submit} className="flex flex-col gap-4" noValidate>
      <div className="grid gap-4 sm:grid-cols-3">
        {LIMITS.map(({ name, label, hint }) => (
          <Input
            key={name}
            label={label}
            value={values[name]}
            onChange={set(name)}
            placeholder={String(quota.defaults[name])}
            inputMode={name === "pods" ? "numeric" : undefined}
            hint={`${hint}; empty: the default, ${quota.defaults[name]}`}
            error={fields[name]}
            autoComplete="off"
          />
        ))}
      </div>
      <Input
        label="Note"
        value={values.note}
        onChange={set("note")}
        maxLength={500}
        hint="Why (shown to administrators)"
        error={fields.note}
      />
      {error && !onlyFieldErrors && <ErrorText>{error.message}</ErrorText>}
      {error && onlyFieldErrors && (
        <p role="alert" className="text-sm text-red-700">Not saved: the platform refused the values marked above.</p>
      )}
      <div className="flex flex-wrap gap-3">
        <Button type="submit" busy={saving} disabled={removing}>
          Save override
        </Button>
        <Button type="button" variant="danger" busy={removing} disabled={saving || !override} onClick={onRemove}>
          Remove override
        </Button>
      </div>
    </form>
  );
}
