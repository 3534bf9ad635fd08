"use client";

import Link from "next/link";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";

import { DropZone, ProgressBar } from "@/components/DropZone";
import { ErrorText, PageTitle, QueryState, when } from "@/components/States";
import { Badge, Button, Card, Input } from "@/components/ui";
import { api, unwrap } from "@/lib/api";
import { fetchWithProgress } from "@/lib/upload";

/** Pick model.joblib and requirements.txt out of the dropped files (by name or extension). */
function sortFiles(files: File[]): { model?: File; requirements?: File } {
  return {
    model: files.find((f) => /\.(joblib|pkl|pickle)$/i.test(f.name)),
    requirements: files.find((f) => /\.txt$/i.test(f.name)),
  };
}

export default function ModelHub() {
  const client = useQueryClient();
  const [name, setName] = useState("");
  const [files, setFiles] = useState<{ model?: File; requirements?: File }>({});
  const [progress, setProgress] = useState<number | null>(null);
  const models = useQuery({
    queryKey: ["models"],
    queryFn: async () => unwrap(await api.GET("/api/models", { params: { query: { limit: 100 } } })),
    refetchInterval: 4000,
  });
  const upload = useMutation({
    mutationFn: async () => {
      if (!files.model) throw new Error("drop a model.joblib file first");
      const existing = models.data?.items.find((m) => m.name === name.trim());
      const model = existing ?? unwrap(await api.POST("/api/models", { body: { name: name.trim(), framework: "sklearn" } }));
      const form = new FormData();
      form.append("model", files.model, "model.joblib");
      if (files.requirements) form.append("requirements", files.requirements, "requirements.txt");
      setProgress(0);
      return unwrap(
        await api.POST("/api/models/{model_id}/versions", {
          params: { path: { model_id: model.id } },
          body: { model: "" },
          bodySerializer: () => form,
          fetch: fetchWithProgress(setProgress),
        }),
      );
    },
    onSettled: () => setProgress(null),
    onSuccess: () => {
      setFiles({});
      void client.invalidateQueries({ queryKey: ["models"] });
    },
  });

  function submit(event: FormEvent) {
    event.preventDefault();
    upload.mutate();
  }

  return (
    <div className="flex flex-col gap-6">
      <PageTitle>Model hub</PageTitle>
      <Card title="Upload a model">
        <form onSubmit={submit} className="flex flex-col gap-4">
          <Input label="Model name" hint="A new version is added when the model exists" required value={name} onChange={(e) => setName(e.target.value)} />
          <DropZone testId="model-drop" label="Drop model.joblib (and optionally requirements.txt)" accept=".joblib,.pkl,.txt" multiple
            onFiles={(dropped) => setFiles({ ...files, ...Object.fromEntries(Object.entries(sortFiles(dropped)).filter(([, f]) => f)) })} />
          <p className="text-sm text-gray-600">
            {files.model ? `model: ${files.model.name}` : "no model file yet"}
            {files.requirements ? ` · requirements: ${files.requirements.name}` : ""}
          </p>
          {progress !== null && <ProgressBar fraction={progress} />}
          {upload.error && <ErrorText>{upload.error.message}</ErrorText>}
          {upload.data && (
            <p className="text-sm text-emerald-700">
              Version {upload.data.version_tag} uploaded: it is <Badge status={upload.data.status} /> (the platform loads it in a model server before it can be deployed).
            </p>
          )}
          <div><Button type="submit" busy={upload.isPending} disabled={!files.model || !name.trim()}>Upload</Button></div>
        </form>
      </Card>
      <Card title="Models">
        <QueryState pending={models.isPending} error={models.error} empty={models.data?.items.length === 0}
          emptyText="No model yet: train one, or upload a model.joblib above.">
          <ul className="divide-y divide-gray-100">
            {models.data?.items.map((model) => (
              <li key={model.id} className="flex flex-wrap items-center justify-between gap-2 py-3 text-sm">
                <span>
                  <Link href={`/models/view/?id=${model.id}`} className="font-medium">{model.name}</Link>
                  <span className="ml-2 text-gray-500">{model.version_count} version{model.version_count === 1 ? "" : "s"}, updated {when(model.updated_at)}</span>
                </span>
                {model.latest_version && <Badge status={model.latest_version.status} />}
              </li>
            ))}
          </ul>
        </QueryState>
      </Card>
    </div>
  );
}
