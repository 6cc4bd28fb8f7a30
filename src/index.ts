// The public surface of zerocopy, and nothing else.
export {
  sendfileSync,
  spliceSync,
  teeSync,
  vmspliceSync,
  copyFileRangeSync,
  createPipe,
} from './raw';
export type {
  Offset,
  SendfileOptions,
  SpliceOptions,
  TeeOptions,
  VmspliceOptions,
  CopyFileRangeOptions,
  CreatePipeOptions,
  Pipe,
} from './raw';
export { capabilities } from './capabilities';
export type { Capabilities } from './capabilities';
export type { SystemError } from './errors';
export { map, mapSync, Mapping } from './mmap';
export type { MapOptions, MapMode, MapAdvice, MapTarget, SyncOptions, RangeOptions, ReadIntoOptions } from './mmap';
export { sendFile } from './sendfile';
export type { SendFileOptions, SendResult, FileInput } from './sendfile';
export { copyFileRange } from './copy';
export type { CopyFileRangeOptions as CopyFileRangeAsyncOptions } from './copy';
export { stats } from './stats';
export type { Stats } from './stats';
export { configure, constants } from './configure';
export type { ConfigureOptions } from './configure';
export type { Calibration, Destination, FallbackReason, Reason, Rule, Strategy, StrategyOption } from './seam';
export { proxy, receiveFile } from './splice';
export type { ProxyOptions, ProxyResult, ReceiveFileOptions } from './splice';
export { broadcast, Broadcast } from './broadcast';
export type { BroadcastOptions, BroadcastResult } from './broadcast';
export { acquireLease, getLease, Lease } from './lease';
export type { LeaseType, LeaseOptions, LeaseBreak } from './lease';
export { serveFile } from './http/serve';
export type { ServeOptions, ServeResult } from './http/serve';
export { createStaticHandler } from './http/static-handler';
export type { StaticHandler, StaticHandlerOptions } from './http/static-handler';
export { alignedBuffer, openDirect, openDirectSync, DirectFile, residency, evict, prefetch } from './direct';
export type {
  DirectTarget,
  DirectFlags,
  DirectReason,
  OpenDirectOptions,
  DirectIoOptions,
  SyncOptions as DirectSyncOptions,
  ResidencyRange,
  Residency,
} from './direct';
