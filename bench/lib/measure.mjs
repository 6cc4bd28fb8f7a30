// Timing and CPU for one benchmark case: wall time and this process's CPU, plus whatever the case reports
// itself (a receiving process's CPU, a child's own timing and peak RSS).

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Spread as (max - min) / median, so a noisy case is visible next to its median; none for a single run. */
export function spread(values) {
  const m = median(values);
  return values.length < 2 || m === 0 ? undefined : (Math.max(...values) - Math.min(...values)) / m;
}

/**
 * Prepares a run with `setup`, then measures the function it returns. That function may return the receiver's
 * CPU seconds, or an object overriding any of { seconds, senderCpu } and adding { receiverCpu, peakRssMiB,
 * anonRssMiB }. A case without a receiving process has no receiverCpu (not a 0).
 */
export async function measure(setup) {
  const fn = await setup();
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const reported = await fn();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const own = { seconds, senderCpu: (cpu.user + cpu.system) / 1e6 };
  return { ...own, ...(typeof reported === 'number' ? { receiverCpu: reported } : reported) };
}

/** Repeats a case and summarises it per byte: GB/s and CPU seconds per GB, each as median and spread. */
export async function repeat(bytes, runs, setup) {
  const samples = [];
  for (let i = 0; i < runs; i++) samples.push(await measure(setup));
  return summarize(bytes, samples);
}

/**
 * Samples of one case (from `measure`), each moving `bytes`, as medians per byte with the spread of GB/s (and
 * its min and max, for the chart's spread bars).
 */
export function summarize(bytes, samples) {
  const runs = samples.length;
  const gb = bytes / 1e9;
  const rates = samples.map((s) => gb / s.seconds);
  const summary = {
    seconds: median(samples.map((s) => s.seconds)),
    senderCpu: median(samples.map((s) => s.senderCpu)),
    gbPerSecond: median(rates),
    gbPerSecondSpread: spread(rates),
    gbPerSecondMin: Math.min(...rates),
    gbPerSecondMax: Math.max(...rates),
    senderCpuPerGb: median(samples.map((s) => s.senderCpu / gb)),
    runs,
  };
  if (samples[0].receiverCpu !== undefined) {
    summary.receiverCpu = median(samples.map((s) => s.receiverCpu));
    summary.receiverCpuPerGb = median(samples.map((s) => s.receiverCpu / gb));
  }
  for (const key of ['peakRssMiB', 'anonRssMiB']) {
    if (samples[0][key] !== undefined) summary[key] = median(samples.map((s) => s[key]));
  }
  return summary;
}
