/**
 * The latency-against-size chart of docs/benchmarks.md (docs/bench-latency.svg), drawn by hand: no dependencies,
 * and the same report always gives the same bytes (no random ids, no clock, fixed number formatting).
 *
 * Both axes are logarithmic: corpus size (rows) across, p50 latency (ms) up. One line with markers per series
 * (hybrid, dense, BM25 only, the plain TypeScript brute-force scan); the baselines are dashed. Sizes whose
 * measurement failed leave a gap in their series.
 */
import type { Machine, SizeOutcome } from "./report.js";
import { fmt, type LatencySummary } from "./util.js";

export const CHART_WIDTH = 720;
export const CHART_HEIGHT = 420;

interface Series {
  label: string;
  color: string;
  dash?: string;
  marker: "circle" | "square" | "triangle" | "diamond";
  pick: (s: SizeOutcome) => LatencySummary | undefined;
}

/** Okabe-Ito colours (distinguishable with the common colour-vision deficiencies), plus distinct markers. */
const SERIES: readonly Series[] = [
  { label: "hybrid (Collection.search)", color: "#0072B2", marker: "circle", pick: (s) => s.query?.modes.hybrid },
  { label: "dense only", color: "#E69F00", marker: "square", pick: (s) => s.query?.modes.dense },
  {
    label: "BM25 only (keyword)",
    color: "#009E73",
    dash: "7 4",
    marker: "triangle",
    pick: (s) => s.query?.modes.keyword,
  },
  {
    label: "brute-force scan (TS, exact)",
    color: "#CC79A7",
    dash: "2 3",
    marker: "diamond",
    pick: (s) => s.build?.bruteForce,
  },
];

const escapeXml = (text: string) =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** Coordinates with at most two decimals, and no "-0". */
const n = (x: number) => {
  const r = Math.round(x * 100) / 100;
  return String(r === 0 ? 0 : r);
};

/** 1000 -> "1k", 1000000 -> "1M", 49000 -> "49k". */
export function sizeLabel(size: number): string {
  if (size >= 1e6 && size % 1e5 === 0) return `${size / 1e6}M`;
  if (size >= 1e3 && size % 100 === 0) return `${size / 1e3}k`;
  return String(size);
}

/** A latency tick label: 0.1, 1, 20, 500, 1,000 (ms). */
const msLabel = (ms: number) => (ms >= 1 ? Math.round(ms).toLocaleString("en-US") : String(Number(ms.toPrecision(1))));

function marker(kind: Series["marker"], x: number, y: number, color: string, tooltip: string): string {
  const title = `<title>${escapeXml(tooltip)}</title>`;
  const style = `fill="${color}" stroke="#ffffff" stroke-width="1.2"`;
  switch (kind) {
    case "circle":
      return `<circle cx="${n(x)}" cy="${n(y)}" r="4.5" ${style}>${title}</circle>`;
    case "square":
      return `<rect x="${n(x - 4)}" y="${n(y - 4)}" width="8" height="8" ${style}>${title}</rect>`;
    case "triangle":
      return `<path d="M${n(x)} ${n(y - 5.5)}L${n(x + 5)} ${n(y + 3.5)}L${n(x - 5)} ${n(y + 3.5)}Z" ${style}>${title}</path>`;
    case "diamond":
      return `<path d="M${n(x)} ${n(y - 5.5)}L${n(x + 5.5)} ${n(y)}L${n(x)} ${n(y + 5.5)}L${n(x - 5.5)} ${n(y)}Z" ${style}>${title}</path>`;
  }
}

export interface LatencyChartInput {
  machine: Machine;
  sizes: readonly SizeOutcome[];
  /** Timed rounds per query and mode (for the caption). */
  rounds: number;
}

/**
 * The SVG (a complete XML document), or undefined when no size has a single measured point.
 */
export function renderLatencyChart({ machine, sizes, rounds }: LatencyChartInput): string | undefined {
  const W = CHART_WIDTH;
  const H = CHART_HEIGHT;
  const plot = { left: 66, right: 470, top: 44, bottom: 326 };
  const ordered = [...sizes].sort((a, b) => a.size - b.size);
  const points = SERIES.map((series) =>
    ordered.map((s) => {
      const v = series.pick(s)?.p50;
      return { size: s.size, ms: v !== undefined && Number.isFinite(v) && v > 0 ? v : undefined };
    }),
  );
  const values = points.flat().flatMap((p) => (p.ms === undefined ? [] : [p.ms]));
  if (values.length === 0) return undefined;
  const measuredSizes = ordered
    .filter((s) => SERIES.some((series) => series.pick(s)?.p50 !== undefined))
    .map((s) => s.size);

  // x: log10(size), half a decade of room either side of the measured sizes (a whole one if there is only one).
  const xs = measuredSizes.map(Math.log10);
  const xPad = xs.length > 1 ? 0.25 : 0.5;
  const xMin = Math.min(...xs) - xPad;
  const xMax = Math.max(...xs) + xPad;
  const X = (size: number) => plot.left + ((Math.log10(size) - xMin) / (xMax - xMin)) * (plot.right - plot.left);
  // y: log10(ms), whole decades around the data.
  const yMin = Math.floor(Math.log10(Math.min(...values)));
  const yMax = Math.max(yMin + 1, Math.ceil(Math.log10(Math.max(...values))));
  const Y = (ms: number) => plot.bottom - ((Math.log10(ms) - yMin) / (yMax - yMin)) * (plot.bottom - plot.top);

  const out: string[] = [];
  out.push(
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" ` +
      `aria-labelledby="chart-title chart-desc" font-family="Helvetica, Arial, sans-serif" font-size="12" fill="#222222">`,
    `<title id="chart-title">mrag search latency (p50) against corpus size</title>`,
    `<desc id="chart-desc">${escapeXml(
      `Log-log chart of p50 latency in milliseconds against collection size in rows, for ${SERIES.map((s) => s.label).join(", ")}. ` +
        points
          .map(
            (ps, i) =>
              `${SERIES[i]!.label}: ${ps.map((p) => `${sizeLabel(p.size)} ${p.ms === undefined ? "n/a" : `${fmt(p.ms)} ms`}`).join(", ")}`,
          )
          .join("; ") +
        ".",
    )}</desc>`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="${W / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">Search latency (p50) against corpus size</text>`,
  );

  // Grid and y ticks: lines at 1, 2 and 5 per decade; labels at every decade, and at 2 and 5 when there are few.
  const decades = yMax - yMin;
  const grid: string[] = [];
  const yLabels: string[] = [];
  for (let d = yMin; d <= yMax; d++) {
    for (const m of [1, 2, 5]) {
      const ms = m * 10 ** d;
      if (Math.log10(ms) > yMax + 1e-9) continue;
      const y = Y(ms);
      const major = m === 1;
      grid.push(
        `<line x1="${plot.left}" y1="${n(y)}" x2="${plot.right}" y2="${n(y)}" stroke="${major ? "#cccccc" : "#eeeeee"}" stroke-width="1"/>`,
      );
      if (major || decades <= 2) {
        yLabels.push(
          `<text x="${plot.left - 8}" y="${n(y + 4)}" text-anchor="end"${major ? "" : ' fill="#666666" font-size="11"'}>${msLabel(
            Number(ms.toPrecision(1)),
          )}</text>`,
        );
      }
    }
  }
  // x ticks at the measured sizes.
  const xLabels: string[] = [];
  for (const size of measuredSizes) {
    const x = X(size);
    grid.push(
      `<line x1="${n(x)}" y1="${plot.top}" x2="${n(x)}" y2="${plot.bottom}" stroke="#eeeeee" stroke-width="1"/>`,
    );
    xLabels.push(
      `<line x1="${n(x)}" y1="${plot.bottom}" x2="${n(x)}" y2="${plot.bottom + 5}" stroke="#444444"/>`,
      `<text x="${n(x)}" y="${plot.bottom + 19}" text-anchor="middle">${escapeXml(sizeLabel(size))}</text>`,
    );
  }
  out.push(`<g>`, ...grid, `</g>`);
  out.push(
    `<rect x="${plot.left}" y="${plot.top}" width="${plot.right - plot.left}" height="${plot.bottom - plot.top}" ` +
      `fill="none" stroke="#444444" stroke-width="1"/>`,
    `<g>`,
    ...yLabels,
    ...xLabels,
    `</g>`,
    `<text x="${n((plot.left + plot.right) / 2)}" y="${plot.bottom + 40}" text-anchor="middle" font-size="13">` +
      `corpus size (rows, log scale)</text>`,
    `<text x="18" y="${n((plot.top + plot.bottom) / 2)}" text-anchor="middle" font-size="13" ` +
      `transform="rotate(-90 18 ${n((plot.top + plot.bottom) / 2)})">p50 latency per query (ms, log scale)</text>`,
  );

  // Series: a polyline per run of consecutive measured sizes, then the markers on top.
  SERIES.forEach((series, i) => {
    const ps = points[i]!;
    const runs: { x: number; y: number }[][] = [[]];
    for (const p of ps) {
      if (p.ms === undefined) runs.push([]);
      else runs.at(-1)!.push({ x: X(p.size), y: Y(p.ms) });
    }
    out.push(`<g>`);
    for (const run of runs.filter((r) => r.length > 1)) {
      out.push(
        `<polyline points="${run.map((p) => `${n(p.x)},${n(p.y)}`).join(" ")}" fill="none" stroke="${series.color}" ` +
          `stroke-width="${i === 0 ? 3 : 2}" stroke-linejoin="round"${series.dash ? ` stroke-dasharray="${series.dash}"` : ""}/>`,
      );
    }
    for (const p of ps) {
      if (p.ms === undefined) continue;
      out.push(
        marker(
          series.marker,
          X(p.size),
          Y(p.ms),
          series.color,
          `${series.label}, ${sizeLabel(p.size)} rows: ${fmt(p.ms)} ms p50`,
        ),
      );
    }
    out.push(`</g>`);
  });

  // Legend, right of the plot.
  const lx = plot.right + 18;
  out.push(`<g>`, `<text x="${lx}" y="${plot.top + 12}" font-weight="bold">p50 latency, k = 10</text>`);
  SERIES.forEach((series, i) => {
    const y = plot.top + 36 + i * 26;
    out.push(
      `<line x1="${lx}" y1="${y}" x2="${lx + 30}" y2="${y}" stroke="${series.color}" stroke-width="${i === 0 ? 3 : 2}"` +
        `${series.dash ? ` stroke-dasharray="${series.dash}"` : ""}/>`,
      marker(series.marker, lx + 15, y, series.color, series.label),
      `<text x="${lx + 38}" y="${y + 4}">${escapeXml(series.label)}</text>`,
    );
  });
  out.push(
    `<text x="${lx}" y="${plot.top + 148}" fill="#555555" font-size="11">dashed: the baselines.</text>`,
    `<text x="${lx}" y="${plot.top + 164}" fill="#555555" font-size="11">The scan runs over one in-memory</text>`,
    `<text x="${lx}" y="${plot.top + 178}" fill="#555555" font-size="11">Float32Array (the build process);</text>`,
    `<text x="${lx}" y="${plot.top + 192}" fill="#555555" font-size="11">the others are Collection.search</text>`,
    `<text x="${lx}" y="${plot.top + 206}" fill="#555555" font-size="11">on the embedded LanceDB store.</text>`,
    `</g>`,
  );

  // Caption: the machine and the date.
  const m = machine;
  out.push(
    `<text x="${W / 2}" y="${H - 30}" text-anchor="middle" fill="#555555" font-size="11">${escapeXml(
      `${m.cpu} (${m.cores} cores), ${fmt(m.memoryGb, 1)} GB RAM, ${m.os}, Node ${m.node}`,
    )}</text>`,
    `<text x="${W / 2}" y="${H - 14}" text-anchor="middle" fill="#555555" font-size="11">${escapeXml(
      `measured ${m.date}; 1-min load ${fmt(m.loadStart, 2)} → ${fmt(m.loadEnd, 2)}; ` +
        `p50 over every query × ${rounds} rounds (the scan: 1 round)`,
    )}</text>`,
    `</svg>`,
    "",
  );
  return out.join("\n");
}
