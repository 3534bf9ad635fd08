"use client";

// One `useCurrentUser()` for both sign-in modes, chosen at run time from `GET /api/config`.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { createContext, useCallback, useContext, useMemo, type ReactNode } from "react";

import { api, setTokenSource, unwrap } from "../api";
import { loadConfig, type PublicConfig } from "../config";
import {
  amplifyUser,
  cognitoConfirm,
  cognitoLogin,
  cognitoLogout,
  cognitoRegister,
  cognitoToken,
  configureCognito,
  type AmplifyUser,
} from "./cognito";
import { localLogin, localLogout, localRegister, storedToken } from "./local";

export interface CurrentUser {
  sub: string;
  email: string | null;
  displayName: string | null;
  /** The platform's role from `GET /api/auth/me`: `admin` or `user` (Cognito: the admin group). */
  role: string;
  isAdmin: boolean;
}

interface AuthContext {
  config: PublicConfig | undefined;
  user: CurrentUser | null;
  loading: boolean;
  error: Error | null;
  login(email: string, password: string): Promise<void>;
  register(email: string, password: string, displayName: string): Promise<void>;
  confirm(email: string, code: string): Promise<void>;
  logout(): Promise<void>;
}

const Context = createContext<AuthContext | null>(null);

function useConfig() {
  return useQuery({
    queryKey: ["config"],
    queryFn: async () => {
      const config = await loadConfig();
      if (config.auth_mode === "cognito") {
        configureCognito(config);
        setTokenSource(cognitoToken);
      } else {
        setTokenSource(async () => storedToken());
      }
      return config;
    },
    staleTime: Infinity,
  });
}

export function AuthProvider({ children }: { children: ReactNode }) {
  const client = useQueryClient();
  const config = useConfig();
  const cognito = config.data?.auth_mode === "cognito";
  const me = useQuery({
    queryKey: ["me"],
    enabled: config.isSuccess,
    retry: false,
    queryFn: async (): Promise<CurrentUser | null> => {
      const token = cognito ? await cognitoToken() : storedToken();
      if (!token) return null;
      const result = await api.GET("/api/auth/me");
      if (result.response.status === 401) return null;
      const user = unwrap(result);
      return {
        sub: user.sub,
        email: user.email ?? null,
        displayName: user.display_name ?? null,
        role: user.role,
        isAdmin: user.role === "admin",
      };
    },
  });

  // After signing in or out: forget the previous user's data, and know who is signed in now
  // before the caller navigates (an invalidated active query refetches before this resolves).
  const refresh = useCallback(async () => {
    client.removeQueries({ predicate: (query) => !["config", "me"].includes(String(query.queryKey[0])) });
    await client.invalidateQueries({ queryKey: ["me"] });
  }, [client]);

  const value = useMemo<AuthContext>(
    () => ({
      config: config.data,
      user: me.data ?? null,
      loading: config.isPending || (config.isSuccess && me.isPending),
      error: (config.error as Error | null) ?? (me.error as Error | null),
      async login(email, password) {
        if (cognito) await cognitoLogin(email, password);
        else await localLogin(email, password);
        await refresh();
      },
      async register(email, password, displayName) {
        if (cognito) await cognitoRegister(email, password, displayName);
        else await localRegister(email, password, displayName);
      },
      async confirm(email, code) {
        await cognitoConfirm(email, code);
      },
      async logout() {
        if (cognito) await cognitoLogout();
        else localLogout();
        await refresh();
      },
    }),
    [config.data, config.isPending, config.isSuccess, config.error, me.data, me.isPending, me.error, cognito, refresh],
  );
  return <Context.Provider value={value}>{children}</Context.Provider>;
}

export function useAuth(): AuthContext {
  const value = useContext(Context);
  if (!value) throw new Error("useAuth needs <AuthProvider>");
  return value;
}

/** The signed-in user in either mode (null when signed out). */
export function useCurrentUser(): { user: CurrentUser | null; loading: boolean } {
  const { user, loading } = useAuth();
  return { user, loading };
}

/** The brief's hook: the Cognito user's username, sub, email and display name (null in local mode). */
export function useAmplifyUser(): { user: AmplifyUser | null; loading: boolean } {
  const { config } = useAuth();
  const query = useQuery({
    queryKey: ["amplify-user"],
    enabled: config?.auth_mode === "cognito",
    queryFn: amplifyUser,
  });
  return { user: query.data ?? null, loading: query.isPending && config?.auth_mode === "cognito" };
}
