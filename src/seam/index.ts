// The seam, chosen once at load (as bufferutil picks native or JS): the addon's kernel when it loaded, else the
// portable one. Public modules import `kernel` from here, never the binding.
import * as net from 'node:net';
import * as tls from 'node:tls';
import { binding, fallbackForced, unavailableReason } from '../binding';
import { socketFd } from '../sockets';
import type { Kernel } from './kernel';
import { nativeKernel } from './native';
import { portableKernel } from './portable';
import type { Choice, FallbackReason } from './reasons';

export const kernel: Kernel = binding ? nativeKernel(binding)
  : warnsOnFirstUse(portableKernel(unavailableReason ?? 'no native binding'));

/**
 * Without the addon, the first call into the kernel (a transfer, a raw call, a mapping, direct I/O; not asking
 * for capabilities, nor the callbacks modules register at load) says once, as a process warning naming the
 * cause and the fix, that this process is not zero-copy; unless the fallback was forced on purpose.
 */
function warnsOnFirstUse(portable: Kernel): Kernel {
  if (fallbackForced) return portable;
  let warned = false;
  const isUse = (key: string | symbol) => key !== 'capabilities' && !/^set\w*Callback$/.test(String(key));
  const wrap = <T extends object>(members: T): T => new Proxy(members, {
    get(target, key, receiver) {
      const value: unknown = Reflect.get(target, key, receiver);
      if (warned) return value;
      if (key === 'direct') return wrap(value as object);
      if (typeof value !== 'function' || !isUse(key)) return value;
      return (...args: unknown[]) => {
        if (!warned) {
          warned = true;
          process.emitWarning(`zerocopy is not zero-copy in this process: ${portable.unavailableReason}`,
            { code: 'ZEROCOPY_FALLBACK' });
        }
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return wrap(portable);
}

/**
 * Why a transfer between these sockets must go through Node's streams (a copy) rather than the kernel:
 * a TLS socket (whatever the kernel), no addon, or a socket without an fd. Undefined when the kernel can take them.
 */
export function streamReason(...sockets: net.Socket[]): FallbackReason | undefined {
  if (sockets.some((s) => s instanceof tls.TLSSocket)) return 'tls';
  if (!kernel.native) return 'no-binding';
  if (sockets.some((s) => socketFd(s) === undefined)) return 'no-fd';
  return undefined;
}

/** The choice as this kernel can carry it out: a strategy it lacks becomes 'copy' ('no-binding'). */
export function runnable(choice: Choice): Choice {
  return kernel.strategies.includes(choice.strategy) ? choice : { strategy: 'copy', reason: 'no-binding' };
}

export { constants } from './constants';
export type { DirectKernel, Kernel, Moved, OpenedDirect, SendJob, SinkNotice, StreamJobResult } from './kernel';
export * from './reasons';
export { choose, readCalibration, useCalibration, useStrategy, validateStrategy } from './calibration';
export type { Calibration, Rule } from './calibration';
export { copyRange, fdWriter } from './copy-loop';
export type { CopyJob, Writer } from './copy-loop';
export { destinationOf } from './destination';
