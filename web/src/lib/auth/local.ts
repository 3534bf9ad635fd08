// Built-in accounts: the platform's own register/login; the token is kept in localStorage.
import { api, unwrap } from "../api";

const KEY = "podml.token";

export function storedToken(): string | null {
  if (typeof window === "undefined") return null;
  const raw = window.localStorage.getItem(KEY);
  if (!raw) return null;
  const { token, expires } = JSON.parse(raw) as { token: string; expires: number };
  if (Date.now() >= expires) {
    window.localStorage.removeItem(KEY);
    return null;
  }
  return token;
}

export async function localLogin(email: string, password: string): Promise<void> {
  const answer = unwrap(await api.POST("/api/auth/login", { body: { email, password } }));
  const expires = Date.now() + answer.expires_in * 1000;
  window.localStorage.setItem(KEY, JSON.stringify({ token: answer.access_token, expires }));
}

export async function localRegister(email: string, password: string, displayName: string): Promise<void> {
  unwrap(
    await api.POST("/api/auth/register", {
      body: { email, password, display_name: displayName || null },
    }),
  );
}

export function localLogout(): void {
  window.localStorage.removeItem(KEY);
}
