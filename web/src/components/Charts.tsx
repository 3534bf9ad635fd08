"use client";

// The job and deployment charts (recharts), each sized by its container.
import {
  Bar,
  BarChart,
  CartesianGrid,
  Legend,
  Line,
  LineChart,
  ResponsiveContainer,
  Scatter,
  ScatterChart,
  Tooltip,
  XAxis,
  YAxis,
} from "recharts";

const GREEN = "#059669";

export function PredictedVsActual({ points }: { points: { actual: number; predicted: number }[] }) {
  return (
    <div className="h-72 w-full" data-testid="chart-predicted-vs-actual">
      <ResponsiveContainer>
        <ScatterChart margin={{ top: 8, right: 16, bottom: 24, left: 8 }}>
          <CartesianGrid stroke="#e5e7eb" />
          <XAxis type="number" dataKey="actual" name="actual" label={{ value: "actual", position: "bottom" }} />
          <YAxis type="number" dataKey="predicted" name="predicted" />
          <Tooltip cursor={{ strokeDasharray: "3 3" }} />
          <Scatter data={points} fill={GREEN} isAnimationActive={false} />
        </ScatterChart>
      </ResponsiveContainer>
    </div>
  );
}

export function Importances({ items }: { items: { feature: string; importance: number }[] }) {
  const rows = items.slice(0, 15);
  return (
    <div className="w-full" style={{ height: 40 + rows.length * 28 }} data-testid="chart-importances">
      <ResponsiveContainer>
        <BarChart data={rows} layout="vertical" margin={{ top: 8, right: 16, bottom: 8, left: 8 }}>
          <CartesianGrid stroke="#e5e7eb" horizontal={false} />
          <XAxis type="number" />
          <YAxis type="category" dataKey="feature" width={120} />
          <Tooltip />
          <Bar dataKey="importance" fill={GREEN} isAnimationActive={false} />
        </BarChart>
      </ResponsiveContainer>
    </div>
  );
}

export function ConfusionMatrix({ labels, matrix }: { labels: unknown[]; matrix: number[][] }) {
  const top = Math.max(1, ...matrix.flat());
  return (
    <div className="overflow-x-auto" data-testid="chart-confusion">
      <table className="text-center text-sm">
        <thead>
          <tr>
            <th className="p-2 text-xs font-normal text-gray-500">true ↓ / predicted →</th>
            {labels.map((label) => <th key={String(label)} className="p-2 font-medium">{String(label)}</th>)}
          </tr>
        </thead>
        <tbody>
          {matrix.map((row, i) => (
            <tr key={i}>
              <th className="p-2 text-left font-medium">{String(labels[i])}</th>
              {row.map((count, j) => (
                <td key={j} className="h-10 w-14 border border-white" style={{ background: `rgba(5, 150, 105, ${0.08 + (0.8 * count) / top})`, color: count / top > 0.5 ? "white" : "#111827" }}>
                  {count}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function TimeSeries({ points, lines, testId }: {
  points: Record<string, number | null | string>[];
  lines: { key: string; label: string; color: string }[];
  testId?: string;
}) {
  return (
    <div className="h-56 w-full" data-testid={testId}>
      <ResponsiveContainer>
        <LineChart data={points} margin={{ top: 8, right: 16, bottom: 8, left: 8 }}>
          <CartesianGrid stroke="#e5e7eb" />
          <XAxis dataKey="label" minTickGap={40} />
          <YAxis />
          <Tooltip />
          <Legend />
          {lines.map((line) => (
            <Line key={line.key} dataKey={line.key} name={line.label} stroke={line.color} dot={false} isAnimationActive={false} connectNulls />
          ))}
        </LineChart>
      </ResponsiveContainer>
    </div>
  );
}
