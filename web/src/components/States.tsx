import type { ReactNode } from "react";

import { Spinner } from "./ui";

/** A query's three other states in one place: loading, failed (the API's words), empty. */
export function QueryState({ pending, error, empty, emptyText, children }: {
  pending: boolean;
  error: Error | null;
  empty?: boolean;
  emptyText?: ReactNode;
  children: ReactNode;
}) {
  if (pending) return <Spinner label="Loading" />;
  if (error) return <ErrorText>{error.message}</ErrorText>;
  if (empty) return <p className="text-sm text-gray-500">{emptyText}</p>;
  return <>{children}</>;
}

export function ErrorText({ children }: { children: ReactNode }) {
  return (
    <p role="alert" className="rounded-md bg-red-50 px-3 py-2 text-sm text-red-700">
      {children}
    </p>
  );
}

export function PageTitle({ children, actions }: { children: ReactNode; actions?: ReactNode }) {
  return (
    <div className="mb-6 flex flex-wrap items-center justify-between gap-3">
      <h1 className="text-2xl font-semibold text-gray-900">{children}</h1>
      {actions}
    </div>
  );
}

export function when(value: string | null | undefined): string {
  return value ? new Date(value).toLocaleString() : "-";
}
