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
