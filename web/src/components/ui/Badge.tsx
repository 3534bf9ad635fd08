const TONES: Record<string, string> = {
  ready: "bg-emerald-50 text-emerald-700 ring-emerald-200",
  succeeded: "bg-emerald-50 text-emerald-700 ring-emerald-200",
  running: "bg-sky-50 text-sky-700 ring-sky-200",
  building: "bg-sky-50 text-sky-700 ring-sky-200",
  updating: "bg-sky-50 text-sky-700 ring-sky-200",
  pending: "bg-gray-50 text-gray-700 ring-gray-200",
  queued: "bg-gray-50 text-gray-700 ring-gray-200",
  degraded: "bg-amber-50 text-amber-800 ring-amber-200",
  failed: "bg-red-50 text-red-700 ring-red-200",
  cancelled: "bg-gray-100 text-gray-600 ring-gray-200",
  // quotas: where a user's quota comes from, and the cluster's ResourceQuota
  override: "bg-sky-50 text-sky-700 ring-sky-200",
  default: "bg-gray-50 text-gray-700 ring-gray-200",
  applied: "bg-emerald-50 text-emerald-700 ring-emerald-200",
  not_created: "bg-gray-50 text-gray-700 ring-gray-200",
  out_of_sync: "bg-amber-50 text-amber-800 ring-amber-200",
};

/** A status word in its colour (unknown statuses are grey). */
export function Badge({ status }: { status: string }) {
  const tone = TONES[status] ?? "bg-gray-50 text-gray-700 ring-gray-200";
  return (
    <span className={`inline-flex items-center rounded-full px-2 py-0.5 text-xs font-medium ring-1 ring-inset ${tone}`}>
      {status}
    </span>
  );
}
