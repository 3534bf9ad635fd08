"use client";

// A prediction form built from the model's features (one input per feature), or a JSON box for
// models that declare none. It calls the gateway through the typed client, as any caller would.
import { useMutation } from "@tanstack/react-query";
import { useState, type FormEvent } from "react";

import { ErrorText } from "@/components/States";
import { Button, Input } from "@/components/ui";
import { api, unwrap } from "@/lib/api";

type Feature = { name: string; type: string };

function value(feature: Feature, text: string): unknown {
  if (text.trim() === "") return null;
  if (feature.type === "numeric") return Number(text);
  if (feature.type === "boolean") return ["true", "1", "yes"].includes(text.trim().toLowerCase());
  return text;
}

export function TryIt({ deploymentId, features, ready }: { deploymentId: string; features: Feature[] | null; ready: boolean }) {
  const [inputs, setInputs] = useState<Record<string, string>>({});
  const [raw, setRaw] = useState("[[0]]");
  const predict = useMutation({
    mutationFn: async () => {
      const body = features
        ? { records: [Object.fromEntries(features.map((f) => [f.name, value(f, inputs[f.name] ?? "")]))] }
        : { instances: JSON.parse(raw) as unknown[][] };
      return unwrap(await api.POST("/api/v1/predict/{deployment_id}", { params: { path: { deployment_id: deploymentId } }, body }));
    },
  });

  function submit(event: FormEvent) {
    event.preventDefault();
    predict.mutate();
  }

  return (
    <form onSubmit={submit} className="flex flex-col gap-4" data-testid="try-it">
      {features ? (
        <div className="grid gap-4 sm:grid-cols-2 lg:grid-cols-3">
          {features.map((feature) => (
            <Input
              key={feature.name}
              label={feature.name}
              hint={feature.type}
              type={feature.type === "numeric" ? "number" : "text"}
              step="any"
              value={inputs[feature.name] ?? ""}
              onChange={(e) => setInputs({ ...inputs, [feature.name]: e.target.value })}
            />
          ))}
        </div>
      ) : (
        <label className="flex flex-col gap-1 text-sm font-medium text-gray-700">
          Instances (rows of values, JSON)
          <textarea className="rounded-md border border-gray-300 p-2 font-mono text-sm" rows={3} value={raw} onChange={(e) => setRaw(e.target.value)} />
        </label>
      )}
      {predict.error && <ErrorText>{predict.error.message}</ErrorText>}
      {predict.data && (
        <p className="rounded-md bg-emerald-50 px-3 py-2 text-sm text-emerald-800" data-testid="prediction">
          Prediction: <strong>{JSON.stringify(predict.data.predictions[0])}</strong>
        </p>
      )}
      <div>
        <Button type="submit" busy={predict.isPending} disabled={!ready}>
          {ready ? "Predict" : "Waiting for a ready replica…"}
        </Button>
      </div>
    </form>
  );
}
