// Timing and CPU for one benchmark case: wall time, this process's CPU, and the receiver's CPU as it reports.

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Spread as (max - min) / median, so a noisy case is visible next to its median. */
export function spread(values) {
  const m = median(values);
  return m === 0 ? 0 : (Math.max(...values) - Math.min(...values)) / m;
}

/** Prepares a run with `setup`, then measures the function it returns (which gives the receiver's CPU s). */
export async function measure(setup) {
  const fn = await setup();
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const receiverCpu = (await fn()) ?? 0;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  return { seconds, senderCpu: (cpu.user + cpu.system) / 1e6, receiverCpu };
}

/** Repeats a case and summarises it per byte: GB/s and CPU seconds per GB, each as median and spread. */
export async function repeat(bytes, runs, setup) {
  const samples = [];
  for (let i = 0; i < runs; i++) samples.push(await measure(setup));
  const gb = bytes / 1e9;
  const per = (key) => samples.map((s) => s[key] / gb);
  const rates = samples.map((s) => gb / s.seconds);
  return {
    gbPerSecond: median(rates),
    gbPerSecondSpread: spread(rates),
    senderCpuPerGb: median(per('senderCpu')),
    receiverCpuPerGb: median(per('receiverCpu')),
    runs,
  };
}
