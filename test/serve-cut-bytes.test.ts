// serveFile sends each part first by sendOpenFileNow (the fast path, no promise), then the rest by sendOpenFile.
// When the rest fails (a file truncated by another process, a peer gone), the error's `bytes` count only the rest:
// the result of a response cut short says fewer bytes than the server wrote, fewer even than the client received.
import { execFileSync } from 'node:child_process';
import * as http from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { createStaticHandler, type ServeResult } from '../src/index';
import { listen, pausedExchange } from './http-clients';
import { FALLBACK, randomFile, tempDir } from './helpers';

const work = tempDir();
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

describe.skipIf(FALLBACK)('the bytes of a response cut short', () => {
  for (const strategy of ['auto', 'sendfile'] as const) {
    it(`${strategy}: a file truncated mid-response: result.bytes is at least what the client received`, async () => {
      const { file } = randomFile(work, 32 << 20, `big-${strategy}.bin`);
      const results: ServeResult[] = [];
      const s = await listen(http.createServer(createStaticHandler(work, { strategy, onResponse: (_req, r) => results.push(r) })));
      try {
        // Another process truncates it to 8 MiB (a page boundary: the rest of the response faults).
        const received = await pausedExchange(s.port, `GET /big-${strategy}.bin HTTP/1.1\r\nHost: x\r\n\r\n`, 1 << 20,
          () => execFileSync(process.execPath, ['-e', `require('fs').truncateSync(${JSON.stringify(file)}, ${8 << 20})`]), 100);
        for (let i = 0; i < 100 && results.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
        const body = received.length - (received.indexOf('\r\n\r\n') + 4);
        expect(body).toBeLessThan(32 << 20); // cut short, as promised
        expect(results).toHaveLength(1);
        expect((results[0].error as { code?: string } | undefined)?.code).toBe('ERR_FILE_TRUNCATED');
        // What the server says it sent, against what reached the client.
        expect(results[0].bytes, `result.bytes against the ${body} body bytes the client received`).toBeGreaterThanOrEqual(body);
      } finally {
        await s.close();
      }
    }, 60_000);
  }
});
