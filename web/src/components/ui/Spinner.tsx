export function Spinner({ size = "md", label }: { size?: "sm" | "md"; label?: string }) {
  const box = size === "sm" ? "h-4 w-4" : "h-6 w-6";
  return (
    <span role="status" className="inline-flex items-center gap-2 text-gray-500">
      <span className={`${box} animate-spin rounded-full border-2 border-gray-300 border-t-emerald-600`} />
      <span className={label ? "text-sm" : "sr-only"}>{label ?? "Loading"}</span>
    </span>
  );
}
