// The SVG chart of a bench run: one panel per scenario, sizes along x, one bar per method, the height its
// throughput as a ratio to the scenario's read+write baseline measured in the same run (the dashed line is 1×).
const PANEL_WIDTH = 820;
const PANEL_HEIGHT = 230;
const MARGIN = { top: 44, right: 240, bottom: 34, left: 52 };
const COLORS = ['#8c8c8c', '#c9a227', '#4e79a7', '#e15759', '#59a14f', '#76b7b2', '#b07aa1', '#ff9da7', '#9c755f'];

const escape = (text) => String(text).replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]);
const human = (n) => (n >= 2 ** 30 ? `${n / 2 ** 30} GiB` : n >= 2 ** 20 ? `${n / 2 ** 20} MiB` : `${n / 1024} KiB`);

/** Rows that carry a `ratio` and a `size`, grouped by scenario in the order they ran. */
function panelsOf(results) {
  const panels = new Map();
  for (const row of results) {
    if (typeof row.ratio !== 'number' || !Number.isFinite(row.ratio) || typeof row.size !== 'number') continue;
    if (!panels.has(row.scenario)) panels.set(row.scenario, { title: row.title ?? row.scenario, baseline: row.baseline, rows: [] });
    panels.get(row.scenario).rows.push(row);
  }
  return [...panels.entries()].map(([scenario, panel]) => ({ scenario, ...panel }));
}

function niceMax(value) {
  const steps = [1, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 40, 50, 80, 100];
  return steps.find((s) => s >= value * 1.05) ?? Math.ceil(value);
}

function panel({ scenario, title, baseline, rows }, y0) {
  const sizes = [...new Set(rows.map((r) => r.size))].sort((a, b) => a - b);
  const methods = [...new Set(rows.map((r) => r.method))];
  const plotW = PANEL_WIDTH - MARGIN.left - MARGIN.right;
  const plotH = PANEL_HEIGHT - MARGIN.top - MARGIN.bottom;
  const top = niceMax(Math.max(1, ...rows.map((r) => r.ratio)));
  const yOf = (ratio) => y0 + MARGIN.top + plotH - (ratio / top) * plotH;
  const groupW = plotW / sizes.length;
  const barW = Math.max(2, (groupW * 0.8) / methods.length);
  const out = [`<g class="panel" data-scenario="${escape(scenario)}">`];
  out.push(`<text x="${MARGIN.left}" y="${y0 + 18}" class="title">${escape(title)}</text>`);
  out.push(`<text x="${MARGIN.left}" y="${y0 + 34}" class="note">× ${escape(baseline)} (same run)</text>`);
  for (const tick of [0, top / 2, top]) {
    const y = yOf(tick);
    out.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${y}" y2="${y}" class="grid"/>`);
    out.push(`<text x="${MARGIN.left - 6}" y="${y + 4}" class="axis" text-anchor="end">${tick}×</text>`);
  }
  sizes.forEach((size, i) => {
    const gx = MARGIN.left + i * groupW + groupW * 0.1;
    methods.forEach((method, m) => {
      const row = rows.find((r) => r.size === size && r.method === method);
      if (!row) return;
      const y = yOf(row.ratio);
      out.push(`<rect x="${(gx + m * barW).toFixed(1)}" y="${y.toFixed(1)}" width="${(barW - 1).toFixed(1)}" ` +
        `height="${(yOf(0) - y).toFixed(1)}" fill="${COLORS[m % COLORS.length]}"><title>${escape(method)}, ` +
        `${human(size)}: ${row.ratio.toFixed(2)}×</title></rect>`);
    });
    out.push(`<text x="${MARGIN.left + (i + 0.5) * groupW}" y="${y0 + MARGIN.top + plotH + 18}" class="axis" ` +
      `text-anchor="middle">${human(size)}</text>`);
  });
  out.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${yOf(1)}" y2="${yOf(1)}" class="one"/>`);
  methods.forEach((method, m) => {
    const ly = y0 + MARGIN.top + m * 16;
    out.push(`<rect x="${PANEL_WIDTH - MARGIN.right + 14}" y="${ly - 9}" width="10" height="10" fill="${COLORS[m % COLORS.length]}"/>`);
    out.push(`<text x="${PANEL_WIDTH - MARGIN.right + 30}" y="${ly}" class="legend">${escape(method)}</text>`);
  });
  out.push('</g>');
  return out.join('\n');
}

export function renderChart({ results, machine, date }) {
  const panels = panelsOf(results);
  const header = 40;
  const height = header + panels.length * PANEL_HEIGHT + 10;
  const subtitle = `${machine.cpus} × ${machine.cpuModel}, Linux ${machine.kernel}, Node ${machine.node}, ${date.slice(0, 10)}`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${PANEL_WIDTH}" height="${height}" viewBox="0 0 ${PANEL_WIDTH} ${height}" font-family="sans-serif">
<style>
.title{font-size:14px;font-weight:bold}.note,.legend{font-size:11px}.axis{font-size:11px;fill:#444}
.grid{stroke:#ddd}.one{stroke:#222;stroke-dasharray:4 3}
</style>
<rect width="100%" height="100%" fill="#fff"/>
<text x="${MARGIN.left}" y="20" class="title">zerocopy bench: throughput as a ratio to read+write</text>
<text x="${MARGIN.left}" y="34" class="note">${escape(subtitle)}</text>
${panels.map((p, i) => panel(p, header + i * PANEL_HEIGHT)).join('\n')}
</svg>
`;
}
