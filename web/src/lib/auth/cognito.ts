// Cognito through Amplify Auth. `userPoolEndpoint` comes from the platform's config, so tests (and
// private deployments) can point Amplify at another Cognito-compatible endpoint.
import { Amplify } from "aws-amplify";
import {
  confirmSignUp,
  fetchAuthSession,
  fetchUserAttributes,
  getCurrentUser,
  signIn,
  signOut,
  signUp,
} from "aws-amplify/auth";

import type { PublicConfig } from "../config";

let configured = false;
let authFlow: "USER_SRP_AUTH" | "USER_PASSWORD_AUTH" = "USER_SRP_AUTH";

export function configureCognito(config: PublicConfig): void {
  if (configured || !config.cognito_user_pool_id || !config.cognito_client_id) return;
  authFlow = config.cognito_auth_flow ?? "USER_SRP_AUTH";
  Amplify.configure({
    Auth: {
      Cognito: {
        userPoolId: config.cognito_user_pool_id,
        userPoolClientId: config.cognito_client_id,
        ...(config.cognito_endpoint_url ? { userPoolEndpoint: config.cognito_endpoint_url } : {}),
      },
    },
  });
  configured = true;
}

/** The ID token for `Authorization: Bearer`, or null when nobody is signed in. */
export async function cognitoToken(): Promise<string | null> {
  try {
    const session = await fetchAuthSession();
    return session.tokens?.idToken?.toString() ?? null;
  } catch {
    return null;
  }
}

export async function cognitoRegister(email: string, password: string, displayName: string): Promise<void> {
  await signUp({
    username: email,
    password,
    options: { userAttributes: { email, ...(displayName ? { name: displayName } : {}) } },
  });
}

export async function cognitoConfirm(email: string, code: string): Promise<void> {
  await confirmSignUp({ username: email, confirmationCode: code });
}

export async function cognitoLogin(email: string, password: string): Promise<void> {
  const result = await signIn({ username: email, password, options: { authFlowType: authFlow } });
  if (!result.isSignedIn) {
    throw new Error(`sign-in needs another step: ${result.nextStep.signInStep}`);
  }
}

export async function cognitoLogout(): Promise<void> {
  await signOut();
}

export interface AmplifyUser {
  username: string;
  sub: string;
  email: string | null;
  displayName: string | null;
}

/** The signed-in Cognito user (the brief's `useAmplifyUser` reads this), or null. */
export async function amplifyUser(): Promise<AmplifyUser | null> {
  try {
    const user = await getCurrentUser();
    const attributes = await fetchUserAttributes();
    return {
      username: user.username,
      sub: attributes.sub ?? user.userId,
      email: attributes.email ?? null,
      displayName: attributes.name ?? attributes.preferred_username ?? null,
    };
  } catch {
    return null;
  }
}
