"use client";

// New configuration: dataset → features and target (from the inferred schema) → model from the
// catalog with its hyperparameter form → save; then "Start training".
import { useMutation, useQuery } from "@tanstack/react-query";
import { useRouter, useSearchParams } from "next/navigation";
import { Suspense, useMemo, useState, type FormEvent } from "react";

import { ErrorText, PageTitle, QueryState } from "@/components/States";
import { Button, Card, Input, Spinner } from "@/components/ui";
import { api, unwrap, type Schemas } from "@/lib/api";

type Task = "auto" | "regression" | "classification";
type Hyper = Schemas["CatalogHyperparameter"];

function HyperparameterField({ spec, value, onChange }: { spec: Hyper; value: unknown; onChange: (v: unknown) => void }) {
  if (spec.type === "bool") {
    return (
      <label className="flex items-center gap-2 text-sm text-gray-700" title={spec.description}>
        <input type="checkbox" checked={Boolean(value ?? spec.default)} onChange={(e) => onChange(e.target.checked)} />
        {spec.name}
      </label>
    );
  }
  if (spec.type === "choice") {
    return (
      <label className="flex flex-col gap-1 text-sm font-medium text-gray-700">
        {spec.name}
        <select
          className="rounded-md border border-gray-300 px-3 py-2 font-normal"
          value={String(value ?? spec.default)}
          onChange={(e) => onChange((spec.choices ?? []).find((c) => String(c) === e.target.value))}
        >
          {(spec.choices ?? []).map((choice) => <option key={String(choice)}>{String(choice)}</option>)}
        </select>
        <span className="text-xs font-normal text-gray-500">{spec.description}</span>
      </label>
    );
  }
  const bounds = [spec.minimum != null ? `≥ ${spec.minimum}` : null, spec.maximum != null ? `≤ ${spec.maximum}` : null].filter(Boolean).join(", ");
  return (
    <Input
      label={spec.name}
      type="number"
      step={spec.type === "int" ? 1 : "any"}
      placeholder={spec.default === null ? "none" : String(spec.default)}
      hint={`${spec.description}${bounds ? ` (${bounds})` : ""}`}
      value={value === undefined || value === null ? "" : String(value)}
      onChange={(e) => onChange(e.target.value === "" ? undefined : Number(e.target.value))}
    />
  );
}

function NewConfiguration() {
  const router = useRouter();
  const [datasetId, setDatasetId] = useState(useSearchParams().get("dataset") ?? "");
  const [features, setFeatures] = useState<string[]>([]);
  const [target, setTarget] = useState("");
  const [task, setTask] = useState<Task>("auto");
  const [modelType, setModelType] = useState("");
  const [hyper, setHyper] = useState<Record<string, unknown>>({});
  const [name, setName] = useState("");

  const datasets = useQuery({
    queryKey: ["datasets"],
    queryFn: async () => unwrap(await api.GET("/api/datasets", { params: { query: { limit: 100 } } })),
  });
  const catalog = useQuery({ queryKey: ["catalog"], queryFn: async () => unwrap(await api.GET("/api/models/catalog")) });
  const dataset = datasets.data?.items.find((item) => item.id === datasetId);
  const models = useMemo(
    () => (catalog.data?.items ?? []).filter((m) => task === "auto" || m.tasks.includes(task)),
    [catalog.data, task],
  );
  const model = models.find((m) => m.name === modelType) ?? models[0];
  const shownHyper = (model?.hyperparameters ?? []).filter((h) => task === "auto" || !h.task || h.task === task);

  const save = useMutation({
    mutationFn: async () => {
      const hyperparams = Object.fromEntries(Object.entries(hyper).filter(([, v]) => v !== undefined));
      return unwrap(
        await api.POST("/api/configurations", {
          body: {
            name: name || `${model?.title ?? "model"} on ${dataset?.name ?? "dataset"}`,
            dataset_id: datasetId,
            x_columns: features,
            y_column: target,
            model_type: model?.name ?? "linear",
            task,
            hyperparams,
          },
        }),
      );
    },
  });
  const train = useMutation({
    mutationFn: async (configurationId: string) =>
      unwrap(await api.POST("/api/jobs", { body: { configuration_id: configurationId } })),
    onSuccess: (job) => router.push(`/jobs/view/?id=${job.id}`),
  });

  function submit(event: FormEvent) {
    event.preventDefault();
    save.mutate();
  }

  return (
    <div className="flex flex-col gap-6">
      <PageTitle>New configuration</PageTitle>
      <QueryState pending={datasets.isPending || catalog.isPending} error={datasets.error ?? catalog.error}
        empty={datasets.data?.items.length === 0} emptyText="Upload a dataset first (Datasets page).">
        <form onSubmit={submit} className="flex flex-col gap-6">
          <Card title="1. Dataset">
            <select
              aria-label="Dataset"
              className="w-full rounded-md border border-gray-300 px-3 py-2 text-sm"
              value={datasetId}
              onChange={(e) => {
                setDatasetId(e.target.value);
                setFeatures([]);
                setTarget("");
              }}
            >
              <option value="">Choose a dataset…</option>
              {datasets.data?.items.map((item) => <option key={item.id} value={item.id}>{item.name}</option>)}
            </select>
          </Card>
          {dataset && (
            <Card title="2. Features and target">
              <div className="grid gap-6 md:grid-cols-2">
                <fieldset>
                  <legend className="mb-2 text-sm font-medium text-gray-700">Features</legend>
                  <div className="flex flex-col gap-1">
                    {dataset.columns.filter((c) => c.name !== target).map((column) => (
                      <label key={column.name} className="flex items-center gap-2 text-sm">
                        <input
                          type="checkbox"
                          checked={features.includes(column.name)}
                          onChange={(e) =>
                            setFeatures(e.target.checked ? [...features, column.name] : features.filter((f) => f !== column.name))
                          }
                        />
                        {column.name} <span className="text-xs text-gray-500">{column.dtype}</span>
                      </label>
                    ))}
                  </div>
                </fieldset>
                <div className="flex flex-col gap-4">
                  <label className="flex flex-col gap-1 text-sm font-medium text-gray-700">
                    Target
                    <select aria-label="Target" className="rounded-md border border-gray-300 px-3 py-2 font-normal" value={target}
                      onChange={(e) => {
                        setTarget(e.target.value);
                        setFeatures(features.filter((f) => f !== e.target.value));
                      }}>
                      <option value="">Choose the column to predict…</option>
                      {dataset.columns.map((c) => <option key={c.name}>{c.name}</option>)}
                    </select>
                  </label>
                  <label className="flex flex-col gap-1 text-sm font-medium text-gray-700">
                    Task
                    <select aria-label="Task" className="rounded-md border border-gray-300 px-3 py-2 font-normal" value={task} onChange={(e) => setTask(e.target.value as Task)}>
                      <option value="auto">Decide from the target</option>
                      <option value="regression">Regression</option>
                      <option value="classification">Classification</option>
                    </select>
                  </label>
                </div>
              </div>
            </Card>
          )}
          {dataset && (
            <Card title="3. Model">
              <div className="flex flex-col gap-4">
                <select aria-label="Model" className="rounded-md border border-gray-300 px-3 py-2 text-sm" value={model?.name ?? ""}
                  onChange={(e) => { setModelType(e.target.value); setHyper({}); }}>
                  {models.map((m) => <option key={m.name} value={m.name}>{m.title}</option>)}
                </select>
                {model && <p className="text-sm text-gray-600">{model.description}</p>}
                <div className="grid gap-4 md:grid-cols-2">
                  {shownHyper.map((spec) => (
                    <HyperparameterField key={spec.name} spec={spec} value={hyper[spec.name]} onChange={(v) => setHyper({ ...hyper, [spec.name]: v })} />
                  ))}
                </div>
                <Input label="Name" hint="Defaults to the model and dataset names" value={name} onChange={(e) => setName(e.target.value)} />
              </div>
            </Card>
          )}
          {save.error && <ErrorText>{save.error.message}</ErrorText>}
          {train.error && <ErrorText>{train.error.message}</ErrorText>}
          <div className="flex flex-wrap items-center gap-3">
            <Button type="submit" busy={save.isPending} disabled={!dataset || !target || features.length === 0 || !!save.data}>
              Save configuration
            </Button>
            {save.data && (
              <>
                <span className="text-sm text-emerald-700">Saved “{save.data.name}”.</span>
                <Button type="button" busy={train.isPending} onClick={() => train.mutate(save.data.id)}>
                  Start training
                </Button>
              </>
            )}
          </div>
        </form>
      </QueryState>
    </div>
  );
}

export default function Page() {
  return (
    <Suspense fallback={<Spinner />}>
      <NewConfiguration />
    </Suspense>
  );
}
