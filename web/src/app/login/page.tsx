"use client";

import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState, type FormEvent } from "react";

import { Button, Card, Input } from "@/components/ui";
import { useAuth } from "@/lib/auth/AuthProvider";

export default function LoginPage() {
  const { login, config } = useAuth();
  const router = useRouter();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await login(email, password);
      router.replace("/");
    } catch (caught) {
      setError((caught as Error).message);
    } finally {
      setBusy(false);
    }
  }

  return (
    <Card title="Sign in to PodML">
      <form onSubmit={submit} className="flex flex-col gap-4">
        <Input label="Email" type="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
        <Input
          label="Password"
          type="password"
          autoComplete="current-password"
          required
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
        {error && (
          <p role="alert" className="text-sm text-red-600">
            {error}
          </p>
        )}
        <Button type="submit" busy={busy}>
          Sign in
        </Button>
        {(config?.allow_registration || config?.auth_mode === "cognito") && (
          <p className="text-sm text-gray-600">
            New here? <Link href="/register/">Create an account</Link>
          </p>
        )}
      </form>
    </Card>
  );
}
