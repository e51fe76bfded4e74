// SVG bar charts for BENCHMARKS.md, drawn from a benchmark's own results
// (bench/lib/results.mjs writes one file per chart next to the JSON).
// Dependency-free and deterministic: the same spec gives the same bytes (no
// dates, no random ids), so a regenerated chart only shows in a diff when a
// number moved.
//
// Two kinds, one spec each (the JSON saved in bench/results/ holds them as is):
//
//   { id, title, unit, better?, scale?, caption?,               horizontal bars
//     bars: [{ label, value, reference?, note? }] }
//   { id, kind: 'grouped', title, unit, better?, scale?, caption?,
//     series: ['p50', 'p99'],                                   one bar per series in each group;
//     groups: [{ label, values: [v0, v1], reference? }] }       a series may be { name, reference }
//
// - shmkit's bars are blue, the references measured in the same run (C, Unix
//   sockets, TCP, process.send, Redis, the cluster master...) grey; in a
//   grouped chart each series is one shade of its colour. A reference is a
//   whole group (`reference: true` on the group: "C futex: p50, p99") or a
//   whole series (`{ name: 'ioredis', reference: true }`: shmkit and the
//   reference side by side in every group).
// - `better`: 'higher' | 'lower', said under the title.
// - `scale`: 'linear' | 'log' | 'auto' (default): auto is log when the
//   largest value is more than 100 times the smallest.
// - A value that is missing (null, NaN, or ≤ 0 on a log scale) draws no bar
//   and says "n/a".
// - `note` (bars): a short text after the value, e.g. a ratio.
// - The SVG has a <title> and a <desc> listing every value, for screen
//   readers and for anyone reading the file as text.

const WIDTH = 760;
const FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif";
const FONT_SIZE = 12;
const BAR = 18; // height of one bar
const BAR_GAP = 8; // between the bars of a plain chart, and between groups
const SERIES_GAP = 2; // between the bars of one group
const PAD = 16;
const VALUE_ROOM = 150; // right of the longest bar: its value label
const COLORS = {
  // dark to light: the first series (or the only one) darkest
  shmkit: ['#1d4ed8', '#60a5fa', '#a5c8fb', '#d0e2fd'],
  reference: ['#4b5563', '#9ca3af', '#c4c9d0', '#e2e5e9'],
  grid: '#e5e7eb',
  axis: '#9ca3af',
  text: '#111827',
  muted: '#4b5563',
};

/** The SVG of a chart spec (either kind). */
export function renderChart(spec) {
  return spec.kind === 'grouped' ? groupedBarChart(spec) : barChart(spec);
}

/** Horizontal bars, one per entry of `spec.bars`. */
export function barChart(spec) {
  const bars = spec.bars ?? [];
  const groups = bars.map((b) => ({ label: b.label, values: [b.value], reference: Boolean(b.reference), notes: [b.note] }));
  return draw({ ...spec, series: [{ name: spec.unit ?? '', reference: false }], groups, legendSeries: false });
}

/** Horizontal bars in groups: one bar per series (e.g. p50 and p99) in each group. */
export function groupedBarChart(spec) {
  const series = (spec.series ?? []).map((s) => (typeof s === 'string' ? { name: s, reference: false } : { name: String(s.name), reference: Boolean(s.reference) }));
  const groups = (spec.groups ?? []).map((g) => ({ label: g.label, values: g.values ?? [], reference: Boolean(g.reference), notes: g.notes ?? [] }));
  return draw({ ...spec, series, groups, legendSeries: series.length > 1 });
}

/**
 * A number as the charts and the doc print it: 3 significant digits, k/M/G
 * for large ones, except in a unit of time (1200 µs, not 1.20 k µs).
 */
export function formatValue(v, unit = '') {
  if (!usable(v)) return 'n/a';
  const a = Math.abs(v);
  if (isTime(unit)) return sig(v);
  if (a >= 1e9) return `${sig(v / 1e9)} G`;
  if (a >= 1e6) return `${sig(v / 1e6)} M`;
  if (a >= 1e3) return `${sig(v / 1e3)} k`;
  return sig(v);
}

// ------------------------------------------------------------------ internals

function usable(v) { return typeof v === 'number' && Number.isFinite(v); }

function sig(x) {
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1000) return String(Math.round(x));
  return x.toFixed(Math.max(0, 2 - Math.floor(Math.log10(a))));
}

/** True for a unit of time (ns, µs, ms, s, and "ns per ..."). */
export function isTime(unit) { return /^(ns|µs|us|ms|s)\b/.test(unit); }

// A tick: the shortest spelling (0.1, 1, 10, 2.5 k).
function formatTick(t, unit) {
  const short = (x) => String(Number(x.toPrecision(4)));
  if (isTime(unit)) return short(t);
  if (t >= 1e9) return `${short(t / 1e9)} G`;
  if (t >= 1e6) return `${short(t / 1e6)} M`;
  if (t >= 1e3) return `${short(t / 1e3)} k`;
  return short(t);
}

function esc(s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

// Width of a text in pixels, estimated (no font metrics here): narrow and
// wide characters of a sans-serif face, at `size` px.
function textWidth(s, size = FONT_SIZE) {
  let w = 0;
  for (const ch of String(s)) {
    if ('il.,:;|!\'`()[] '.includes(ch)) w += 0.3;
    else if ('mwMW@%'.includes(ch)) w += 0.9;
    else if (ch >= 'A' && ch <= 'Z') w += 0.68;
    else w += 0.56;
  }
  return w * size;
}

/** Picks the scale and its ticks for the values shown. */
function scaleFor(values, requested) {
  const vs = values.filter((v) => usable(v) && v > 0);
  const max = vs.length ? Math.max(...vs) : 1;
  const min = vs.length ? Math.min(...vs) : 1;
  const log = requested === 'log' || ((requested ?? 'auto') === 'auto' && max / min > 100);
  if (log) {
    // Decades from just under the smallest value to the power of ten at or above the largest:
    // the smallest bar never has length zero.
    const lo = 10 ** (Math.ceil(Math.log10(min)) - 1);
    const hi = Math.max(10 ** Math.ceil(Math.log10(max)), lo * 10);
    const ticks = [];
    for (let t = lo; t <= hi * 1.0001; t *= 10) ticks.push(t);
    const span = Math.log10(hi / lo);
    return { log: true, ticks, at: (v) => (usable(v) && v > 0 ? Math.max(0, Math.log10(v / lo) / span) : null) };
  }
  const step = niceStep(max / 5);
  const hi = Math.max(step, Math.ceil(max / step) * step);
  const ticks = [];
  for (let i = 0; i * step <= hi * 1.0001; i++) ticks.push(i * step);
  return { log: false, ticks, at: (v) => (usable(v) && v >= 0 ? v / hi : null) };
}

function niceStep(raw) {
  if (!(raw > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

// A bar's colour: grey for a reference (its group's or its series'), blue
// otherwise; the series' rank among the series of its kind picks the shade.
function colorOf(series, s, groupIsReference) {
  const reference = groupIsReference || s.reference;
  const rank = series.filter((x) => x.reference === s.reference).indexOf(s);
  return (reference ? COLORS.reference : COLORS.shmkit)[rank % 4];
}

function draw(spec) {
  const { id = 'chart', title = '', unit = '', series, groups, legendSeries } = spec;
  const nSeries = Math.max(1, series.length);
  const valueUnit = unit && unit.length <= 8 ? ` ${unit}` : ''; // after each value, when short
  const scale = scaleFor(groups.flatMap((g) => g.values), spec.scale);

  const labelW = Math.min(Math.ceil(Math.max(60, ...groups.map((g) => textWidth(g.label)))) + 10, Math.round(WIDTH * 0.45));
  const plotX = PAD + labelW;
  const plotW = WIDTH - plotX - VALUE_ROOM;

  const subtitle = [
    spec.better === 'higher' ? 'higher is better' : spec.better === 'lower' ? 'lower is better' : null,
    scale.log ? 'log scale' : null,
  ].filter(Boolean).join(' · ');
  let y = PAD + 16;
  const out = [];
  out.push(`<text x="${PAD}" y="${y}" font-size="15" font-weight="600" fill="${COLORS.text}">${esc(title)}</text>`);
  if (subtitle) { y += 18; out.push(`<text x="${PAD}" y="${y}" font-size="${FONT_SIZE}" fill="${COLORS.muted}">${esc(subtitle)}</text>`); }

  // Legend: shmkit vs reference, and the series' shades.
  y += 20;
  let lx = PAD;
  const swatch = (color, text) => {
    if (lx > PAD && lx + 17 + textWidth(text) > WIDTH - PAD) { lx = PAD; y += 18; } // wrap
    out.push(`<rect x="${lx}" y="${y - 10}" width="12" height="12" rx="2" fill="${color}"/>`);
    out.push(`<text x="${lx + 17}" y="${y}" font-size="${FONT_SIZE}" fill="${COLORS.text}">${esc(text)}</text>`);
    lx += 17 + textWidth(text) + 18;
  };
  const hasRef = groups.some((g) => g.reference), hasShm = groups.some((g) => !g.reference);
  if (legendSeries) {
    const own = series.filter((s) => !s.reference);
    if (hasShm) own.forEach((s) => swatch(colorOf(series, s, false), hasRef ? `shmkit ${s.name}` : s.name));
    if (hasRef) own.forEach((s) => swatch(colorOf(series, s, true), `reference ${s.name}`));
    series.filter((s) => s.reference).forEach((s) => swatch(colorOf(series, s, true), s.name));
  } else {
    if (hasShm) swatch(COLORS.shmkit[0], 'shmkit');
    if (hasRef) swatch(COLORS.reference[0], 'reference (same run)');
  }

  const plotTop = y + 14;
  const groupH = nSeries * BAR + (nSeries - 1) * SERIES_GAP;
  const plotH = groups.length * groupH + Math.max(0, groups.length - 1) * BAR_GAP * (nSeries > 1 ? 1.5 : 1) + 2 * BAR_GAP;
  const plotBottom = plotTop + plotH;

  // Grid and tick labels.
  for (const t of scale.ticks) {
    const x = plotX + scale.at(t) * plotW;
    out.push(`<line x1="${fx(x)}" y1="${plotTop}" x2="${fx(x)}" y2="${fx(plotBottom)}" stroke="${COLORS.grid}" stroke-width="1"/>`);
    out.push(`<text x="${fx(x)}" y="${fx(plotBottom + 15)}" font-size="11" fill="${COLORS.muted}" text-anchor="middle">${esc(formatTick(t, unit))}</text>`);
  }
  out.push(`<line x1="${plotX}" y1="${plotTop}" x2="${plotX}" y2="${fx(plotBottom)}" stroke="${COLORS.axis}" stroke-width="1"/>`);
  out.push(`<text x="${fx(plotX + plotW / 2)}" y="${fx(plotBottom + 32)}" font-size="${FONT_SIZE}" fill="${COLORS.muted}" text-anchor="middle">${esc(unit)}</text>`);

  // Bars.
  let by = plotTop + BAR_GAP;
  const desc = [];
  for (const g of groups) {
    const gy = by;
    out.push(`<text x="${plotX - 8}" y="${fx(gy + groupH / 2 + 4)}" font-size="${FONT_SIZE}" fill="${COLORS.text}" text-anchor="end">${esc(g.label)}</text>`);
    const parts = [];
    for (let i = 0; i < nSeries; i++) {
      const v = g.values[i];
      const f = scale.at(v);
      const color = colorOf(series, series[i], g.reference);
      const name = legendSeries ? series[i].name : '';
      const text = `${formatValue(v, unit)}${valueUnit}${name.length <= 14 && name ? ` ${name}` : ''}${g.notes[i] ? ` (${g.notes[i]})` : ''}`;
      if (f === null) {
        out.push(`<text x="${plotX + 6}" y="${fx(by + BAR - 5)}" font-size="11" fill="${COLORS.muted}">n/a</text>`);
      } else {
        const w = Math.max(1, f * plotW);
        out.push(`<rect x="${plotX}" y="${fx(by)}" width="${fx(w)}" height="${BAR}" fill="${color}"><title>${esc(`${g.label}${name ? ` (${name})` : ''}: ${formatValue(v, unit)} ${unit}`)}</title></rect>`);
        out.push(`<text x="${fx(plotX + w + 5)}" y="${fx(by + BAR - 5)}" font-size="11" fill="${COLORS.text}">${esc(text)}</text>`);
      }
      parts.push(`${name ? `${name}${series[i].reference ? ' (reference)' : ''} ` : ''}${formatValue(v, unit)}${g.notes[i] ? ` (${g.notes[i]})` : ''}`);
      by += BAR + SERIES_GAP;
    }
    by += BAR_GAP * (nSeries > 1 ? 1.5 : 1) - SERIES_GAP;
    desc.push(`${g.label}${g.reference ? ' (reference)' : ''}: ${parts.join(', ')}`);
  }

  let height = plotBottom + 40;
  if (spec.caption) {
    out.push(`<text x="${PAD}" y="${fx(height + 10)}" font-size="11" fill="${COLORS.muted}">${esc(spec.caption)}</text>`);
    height += 22;
  }
  height = Math.ceil(height + PAD / 2);
  const descText = `${unit ? `${unit}${spec.better ? `, ${spec.better} is better` : ''}` : ''}${scale.log ? ', log scale' : ''}. ${desc.join('; ')}.`;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" role="img" aria-labelledby="${esc(id)}-title ${esc(id)}-desc" font-family="${esc(FONT)}">`,
    `<title id="${esc(id)}-title">${esc(title)}</title>`,
    `<desc id="${esc(id)}-desc">${esc(descText.replace(/^\. /, ''))}</desc>`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    ...out,
    '</svg>',
    '',
  ].join('\n');
}

// Coordinates with at most one decimal: stable text, small files.
function fx(x) { return String(Math.round(x * 10) / 10); }
