"use client";

// The frame of every page: the navigation (administrators also see their pages), and the sign-in
// guard (signed-out users see only the sign-in and registration pages).
import Link from "next/link";
import { usePathname, useRouter } from "next/navigation";
import { useEffect, useState, type ReactNode } from "react";

import { Button, Spinner } from "@/components/ui";
import { useAuth } from "@/lib/auth/AuthProvider";

const PUBLIC = ["/login/", "/register/"];
const NAV = [
  { href: "/", label: "Dashboard" },
  { href: "/datasets/", label: "Datasets" },
  { href: "/configurations/new/", label: "New configuration" },
  { href: "/jobs/", label: "Jobs" },
  { href: "/models/", label: "Model hub" },
  { href: "/deployments/", label: "Deployments" },
  { href: "/admin/quotas/", label: "Quotas", adminOnly: true },
];

export function Shell({ children }: { children: ReactNode }) {
  const { user, loading, error, logout } = useAuth();
  const path = usePathname();
  const router = useRouter();
  const [open, setOpen] = useState(false);
  const isPublic = PUBLIC.includes(path);

  useEffect(() => {
    if (!loading && !user && !isPublic && !error) router.replace("/login/");
  }, [loading, user, isPublic, error, router]);

  if (error) {
    return (
      <main className="mx-auto max-w-lg p-8">
        <p role="alert" className="rounded-md bg-red-50 p-4 text-sm text-red-700">
          The platform could not be reached: {error.message}
        </p>
      </main>
    );
  }
  if (isPublic) return <main className="mx-auto max-w-md px-4 py-12">{children}</main>;
  if (loading || !user) {
    return (
      <main className="flex min-h-screen items-center justify-center">
        <Spinner label="Loading" />
      </main>
    );
  }
  return (
    <div className="min-h-screen">
      <header className="border-b border-gray-200 bg-white">
        <div className="mx-auto flex max-w-6xl items-center justify-between gap-4 px-4 py-3">
          <Link href="/" className="text-lg font-semibold text-gray-900 no-underline">
            Pod<span className="text-emerald-600">ML</span>
          </Link>
          <button className="md:hidden" aria-label="Menu" onClick={() => setOpen(!open)}>
            ☰
          </button>
          <nav className={`${open ? "flex" : "hidden"} absolute left-0 right-0 top-14 flex-col gap-1 border-b bg-white p-3 md:static md:flex md:flex-row md:flex-wrap md:border-0 md:p-0`}>
            {NAV.filter((item) => !item.adminOnly || user.isAdmin).map((item) => (
              <Link
                key={item.href}
                href={item.href}
                onClick={() => setOpen(false)}
                className={`whitespace-nowrap rounded-md px-3 py-1.5 text-sm ${path === item.href ? "bg-emerald-50 text-emerald-700" : "text-gray-600 hover:bg-gray-100"}`}
              >
                {item.label}
              </Link>
            ))}
          </nav>
          <div className="hidden items-center gap-3 md:flex">
            <span className="max-w-48 truncate text-sm text-gray-600" title={user.email ?? undefined}>
              {user.displayName ?? user.email}
            </span>
            <Button variant="ghost" className="whitespace-nowrap" onClick={() => void logout()}>
              Sign out
            </Button>
          </div>
        </div>
      </header>
      <main className="mx-auto max-w-6xl px-4 py-8">{children}</main>
    </div>
  );
}
