// CPU seconds used so far by another process and its children (a server child, nginx's master and worker),
// from /proc: user + system time in clock ticks.
import { readFileSync } from 'node:fs';

const TICKS = 100; // USER_HZ on Linux

function own(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS; // utime, stime
  } catch {
    return 0; // gone
  }
}

function children(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'latin1').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

export function processCpu(pid) {
  return own(pid) + children(pid).reduce((sum, child) => sum + processCpu(child), 0);
}
