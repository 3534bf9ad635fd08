import type { NextConfig } from "next";

// A static export served by `podml serve` at `/`: every page is a file, so a reload of any deep
// link finds its HTML (`trailingSlash` writes `jobs/view/index.html`); dynamic ids travel in the
// query string (`/jobs/view/?id=...`).
const config: NextConfig = {
  output: "export",
  trailingSlash: true,
  images: { unoptimized: true },
  reactStrictMode: true,
};

export default config;
