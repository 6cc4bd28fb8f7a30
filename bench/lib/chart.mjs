// The SVG chart of a bench run: one panel per scenario, sizes along x, one bar per method, its height the
// method's median throughput as a ratio to the panel's own baseline measured in the same run (the dashed line
// is 1×), with a whisker from the slowest to the fastest run. Every method has the same colour in every panel
// and every chart. Whatever cannot be drawn (a skipped case, a scenario whose figures are no ratios) is named.
const PANEL_WIDTH = 820;
const PANEL_HEIGHT = 230;
const NOTE_HEIGHT = 14;
const MARGIN = { top: 44, right: 240, bottom: 34, left: 52 };
// 11 px sans-serif averages under 6 px a character: a note wraps at this many, so that none runs off the chart.
const NOTE_CHARS = Math.floor((PANEL_WIDTH - MARGIN.left - 12) / 6);

// A method keeps its colour everywhere; counterparts in other scenarios (a read+write loop, a stream pipe, the
// zerocopy call, a C program) share one, and no two methods of one scenario do.
const METHOD_COLORS = {
  'read+write': '#8c8c8c', 'read loop': '#8c8c8c', 'a.pipe(b)': '#8c8c8c', 'socket.pipe(createWriteStream)': '#8c8c8c',
  'res.end(cachedBuffer)': '#595959',
  'stream.pipe': '#c9a227', 'createReadStream().pipe(res)': '#c9a227', readFile: '#c9a227', 'fs.copyFileSync': '#c9a227',
  send: '#9c755f',
  sendFile: '#4e79a7', serveFile: '#4e79a7', proxy: '#4e79a7', receiveFile: '#4e79a7', map: '#4e79a7',
  copyFileRangeSync: '#4e79a7',
  'serveFile, read+write body': '#a0cbe8', 'sendFile sendfile': '#a0cbe8', sendfileSync: '#a0cbe8',
  'sendFile splice': '#f1ce63', 'sendFile mmap': '#8cd17d', 'sendFile copy': '#d4a6c8',
  'mmap+write': '#59a14f', 'spliceSync loop': '#76b7b2', spliceSync: '#76b7b2',
  'lease, copy (this host)': '#f28e2b', 'lease, sendfile-until-acked (remote)': '#b07aa1',
  'C read+write': '#e15759', 'C read+write relay': '#e15759', 'nginx (sendfile on)': '#e15759',
  'C sendfile': '#ff9da7', 'C splice': '#6b4c9a', 'C mmap+write': '#d37295',
};
const SPARE_COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

/** The method's colour; a method not in the map gets one from its name, so it too is the same everywhere. */
export function colorOf(method) {
  if (METHOD_COLORS[method]) return METHOD_COLORS[method];
  let hash = 0;
  for (const c of method) hash = (hash * 31 + c.charCodeAt(0)) >>> 0;
  return SPARE_COLORS[hash % SPARE_COLORS.length];
}

/** A note as lines of at most NOTE_CHARS, broken at spaces (a longer word has a line of its own). */
function wrap(text) {
  const lines = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > NOTE_CHARS) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  return [...lines, line];
}

const escape = (text) => String(text).replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]);
const human = (n) => (n >= 2 ** 30 ? `${n / 2 ** 30} GiB` : n >= 2 ** 20 ? `${n / 2 ** 20} MiB` : `${n / 1024} KiB`);
const drawable = (row) => Number.isFinite(row.ratio) && typeof row.size === 'number' && !row.crossCheck;

/**
 * Scenarios in the order they ran: the rows to draw, the notes on what is not drawn, and the scenarios with
 * nothing to draw at all (with why).
 */
function panelsOf(results) {
  const scenarios = new Map();
  for (const row of results) {
    if (!scenarios.has(row.scenario)) scenarios.set(row.scenario, { scenario: row.scenario, rows: [], notes: [], all: [] });
    const s = scenarios.get(row.scenario);
    s.all.push(row);
    if (drawable(row)) {
      s.title ??= row.title ?? row.scenario;
      s.baseline ??= row.baseline;
      s.rows.push(row);
    } else if (row.skipped) {
      const what = row.crossCheck ? 'cross-check with wrk' : row.method;
      s.notes.push(`skipped: ${what}${typeof row.size === 'number' ? ` at ${human(row.size)}` : ''}: ${row.skipped}`);
    }
  }
  const panels = [];
  const undrawn = [];
  for (const s of scenarios.values()) {
    const measuredWithoutRatio = s.all.filter((r) => typeof r.size === 'number' && !r.skipped && !r.crossCheck && !drawable(r));
    if (s.rows.length && measuredWithoutRatio.length) {
      const sizes = [...new Set(measuredWithoutRatio.map((r) => human(r.size)))];
      s.notes.push(`no bars at ${sizes.join(', ')}: ${s.baseline} did not run there, so there is no ratio`);
    }
    if (s.rows.length) panels.push(s);
    else if (s.notes.length) undrawn.push(`${s.scenario}: no ratio to draw (${s.notes.join('; ')})`);
    else undrawn.push(`${s.scenario}: its figures are not ratios to a baseline (see its table and JSON)`);
  }
  return { panels, undrawn };
}

function niceMax(value) {
  const steps = [1, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 40, 50, 80, 100];
  return steps.find((s) => s >= value * 1.05) ?? Math.ceil(value);
}

const LEGEND_ROW = 16;
// A panel grows to hold its legend, then its notes.
const plotHeight = (p) => Math.max(PANEL_HEIGHT, MARGIN.top + new Set(p.rows.map((r) => r.method)).size * LEGEND_ROW + 8);
const panelHeight = (p) => plotHeight(p) + p.notes.flatMap(wrap).length * NOTE_HEIGHT;

function panel(p, y0) {
  const { scenario, title, rows, notes } = p;
  const sizes = [...new Set(rows.map((r) => r.size))].sort((a, b) => a - b);
  const methods = [...new Set(rows.map((r) => r.method))];
  const plotW = PANEL_WIDTH - MARGIN.left - MARGIN.right;
  const plotH = PANEL_HEIGHT - MARGIN.top - MARGIN.bottom;
  const top = niceMax(Math.max(1, ...rows.map((r) => (Number.isFinite(r.ratioMax) ? r.ratioMax : r.ratio))));
  const yOf = (ratio) => y0 + MARGIN.top + plotH - (ratio / top) * plotH;
  const groupW = plotW / sizes.length;
  const barW = Math.max(2, (groupW * 0.8) / methods.length);
  const out = [`<g class="panel" data-scenario="${escape(scenario)}">`];
  out.push(`<text x="${MARGIN.left}" y="${y0 + 18}" class="title">${escape(title)}: × ${escape(p.baseline)}</text>`);
  out.push(`<text x="${MARGIN.left}" y="${y0 + 34}" class="note">bars: the median of the runs (same run as the baseline);` +
    ' whiskers: the slowest and the fastest run</text>');
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
      const x = gx + m * barW;
      const y = yOf(row.ratio);
      const spread = Number.isFinite(row.ratioMin) && Number.isFinite(row.ratioMax)
        ? ` (runs ${row.ratioMin.toFixed(2)}-${row.ratioMax.toFixed(2)}×)` : '';
      out.push(`<rect data-method="${escape(method)}" x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${(barW - 1).toFixed(1)}" ` +
        `height="${(yOf(0) - y).toFixed(1)}" fill="${colorOf(method)}"><title>${escape(method)}, ` +
        `${human(size)}: ${row.ratio.toFixed(2)}×${spread}</title></rect>`);
      if (spread) {
        const cx = (x + (barW - 1) / 2).toFixed(1);
        const cap = Math.min(3, (barW - 1) / 2);
        const [lo, hi] = [yOf(row.ratioMin).toFixed(1), yOf(row.ratioMax).toFixed(1)];
        out.push(`<path d="M${cx} ${lo}V${hi}M${(Number(cx) - cap).toFixed(1)} ${lo}h${2 * cap}M${(Number(cx) - cap).toFixed(1)} ${hi}h${2 * cap}" class="spread"/>`);
      }
    });
    out.push(`<text x="${MARGIN.left + (i + 0.5) * groupW}" y="${y0 + MARGIN.top + plotH + 18}" class="axis" ` +
      `text-anchor="middle">${human(size)}</text>`);
  });
  out.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${yOf(1)}" y2="${yOf(1)}" class="one"/>`);
  methods.forEach((method, m) => {
    const ly = y0 + MARGIN.top + m * LEGEND_ROW;
    out.push(`<rect x="${PANEL_WIDTH - MARGIN.right + 14}" y="${ly - 9}" width="10" height="10" fill="${colorOf(method)}"/>`);
    out.push(`<text x="${PANEL_WIDTH - MARGIN.right + 30}" y="${ly}" class="legend">${escape(method)}</text>`);
  });
  notes.flatMap(wrap).forEach((note, n) => {
    out.push(`<text x="${MARGIN.left}" y="${y0 + plotHeight(p) + n * NOTE_HEIGHT}" class="note">${escape(note)}</text>`);
  });
  out.push('</g>');
  return out.join('\n');
}

export function renderChart({ results, machine, date }) {
  const { panels, undrawn } = panelsOf(results);
  const header = 40;
  const tops = [];
  let y = header;
  for (const p of panels) {
    tops.push(y);
    y += panelHeight(p);
  }
  const footer = undrawn.flatMap((text) => wrap(`not drawn: ${text}`)).map((line, i) =>
    `<text x="${MARGIN.left}" y="${y + 14 + i * NOTE_HEIGHT}" class="note">${escape(line)}</text>`);
  const height = y + footer.length * NOTE_HEIGHT + 10;
  const subtitle = `${machine.cpus} × ${machine.cpuModel}, Linux ${machine.kernel}, Node ${machine.node}, ${date.slice(0, 10)}`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${PANEL_WIDTH}" height="${height}" viewBox="0 0 ${PANEL_WIDTH} ${height}" font-family="sans-serif">
<style>
.title{font-size:14px;font-weight:bold}.note,.legend{font-size:11px}.axis{font-size:11px;fill:#444}
.grid{stroke:#ddd}.one{stroke:#222;stroke-dasharray:4 3}.spread{stroke:#222;fill:none}
</style>
<rect width="100%" height="100%" fill="#fff"/>
<text x="${MARGIN.left}" y="20" class="title">zerocopy bench: throughput as a ratio to each panel's baseline</text>
<text x="${MARGIN.left}" y="34" class="note">${escape(subtitle)}</text>
${panels.map((p, i) => panel(p, tops[i])).join('\n')}
${footer.join('\n')}
</svg>
`;
}
