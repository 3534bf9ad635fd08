"use client";

import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState, type FormEvent } from "react";

import { Button, Card, Input } from "@/components/ui";
import { useAuth } from "@/lib/auth/AuthProvider";

export default function RegisterPage() {
  const { register, confirm, login, config } = useAuth();
  const router = useRouter();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [name, setName] = useState("");
  const [code, setCode] = useState("");
  const [step, setStep] = useState<"details" | "confirm">("details");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const cognito = config?.auth_mode === "cognito";

  async function run(action: () => Promise<void>) {
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (caught) {
      setError((caught as Error).message);
    } finally {
      setBusy(false);
    }
  }

  function submitDetails(event: FormEvent) {
    event.preventDefault();
    void run(async () => {
      await register(email, password, name);
      if (cognito) {
        setStep("confirm");
        return;
      }
      await login(email, password);
      router.replace("/");
    });
  }

  function submitCode(event: FormEvent) {
    event.preventDefault();
    void run(async () => {
      await confirm(email, code);
      await login(email, password);
      router.replace("/");
    });
  }

  if (step === "confirm") {
    return (
      <Card title="Check your email">
        <form onSubmit={submitCode} className="flex flex-col gap-4">
          <Input label="Verification code" hint={`We sent a code to ${email}`} required value={code} onChange={(e) => setCode(e.target.value)} />
          {error && <p role="alert" className="text-sm text-red-600">{error}</p>}
          <Button type="submit" busy={busy}>Verify and sign in</Button>
        </form>
      </Card>
    );
  }
  return (
    <Card title="Create your PodML account">
      <form onSubmit={submitDetails} className="flex flex-col gap-4">
        <Input label="Email" type="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
        <Input label="Display name" hint="Shown in the dashboard; optional" value={name} onChange={(e) => setName(e.target.value)} />
        <Input
          label="Password"
          type="password"
          autoComplete="new-password"
          hint="At least 8 characters"
          required
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
        {error && <p role="alert" className="text-sm text-red-600">{error}</p>}
        <Button type="submit" busy={busy}>Create account</Button>
        <p className="text-sm text-gray-600">
          Already registered? <Link href="/login/">Sign in</Link>
        </p>
      </form>
    </Card>
  );
}
