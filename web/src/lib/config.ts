import { api, unwrap, type Schemas } from "./api";

export type PublicConfig = Schemas["PublicConfig"];

/** `GET /api/config`: the sign-in mode (built-in or Cognito) and what the UI needs for it. */
export async function loadConfig(): Promise<PublicConfig> {
  return unwrap(await api.GET("/api/config"));
}
