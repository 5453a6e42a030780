/**
 * The simulator's control endpoint under `/_simulator/`, for harnesses that run the simulator as a
 * process of its own (`npm run chaos`): switch faults at run time and read what was served. Off
 * unless the simulator is started with `control: true` (`--control`); GRIN has nothing like it.
 *
 *   POST /_simulator/faults          JSON object of fault switches; `null` turns a switch off
 *   GET  /_simulator/books/<barcode> the book as the simulator sees it (state, pages, title, package)
 *   GET  /_simulator/stats           library counters, tokens issued, requests and hits per fault
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody, sendText, TEXT } from './http-io';
import { validateFaultConfig, type FaultConfig } from './faults';
import type { RunningSimulator } from './index';

export const CONTROL_PREFIX = '/_simulator/';

/** What `GET /_simulator/stats` answers. */
export interface SimulatorControlStats {
  library: ReturnType<RunningSimulator['stats']>;
  /** GRIN requests answered (token endpoint excluded). */
  grinRequests: number;
  /** Requests to the token endpoint. */
  tokenRequests: number;
  /** Requests shaped by each fault switch. */
  faultHits: Record<string, number>;
}

const JSON_TYPE = 'application/json; charset=utf-8';

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  sendText(res, status, JSON_TYPE, JSON.stringify(body) + '\n');
}

export function createControlHandler(sim: RunningSimulator): (req: IncomingMessage, res: ServerResponse) => void {
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://simulator.invalid').pathname.slice(CONTROL_PREFIX.length);
    if (path === 'faults' && req.method === 'POST') {
      const body = JSON.parse((await readBody(req, 1024 * 1024)) || '{}') as Record<string, unknown>;
      // JSON has no `undefined`: null means "switch off", which `setFaults` spells as undefined.
      const changes = Object.fromEntries(Object.entries(body).map(([k, v]) => [k, v === null ? undefined : v]));
      const defined = Object.fromEntries(Object.entries(changes).filter(([, v]) => v !== undefined));
      validateFaultConfig(defined);
      sim.setFaults(changes as Partial<FaultConfig>);
      return sendJson(res, 200, { ok: true });
    }
    const book = /^books\/([^/]+)$/.exec(path);
    if (book && req.method === 'GET') return sendJson(res, 200, sim.book(decodeURIComponent(book[1])));
    if (path === 'stats' && req.method === 'GET') {
      const faultHits: Record<string, number> = {};
      let tokenRequests = 0;
      for (const entry of sim.requestLog) {
        if (entry.path === '/token') tokenRequests += 1;
        if (entry.fault) faultHits[entry.fault] = (faultHits[entry.fault] ?? 0) + 1;
      }
      const stats: SimulatorControlStats = {
        library: sim.stats(),
        grinRequests: sim.requestLog.length - tokenRequests,
        tokenRequests,
        faultHits,
      };
      return sendJson(res, 200, stats);
    }
    sendText(res, 404, TEXT, `no control resource ${req.method ?? 'GET'} ${CONTROL_PREFIX}${path}; see devkit/simulator/control.ts\n`);
  }

  return (req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (res.headersSent) return void res.destroy();
      sendText(res, 400, TEXT, `${error instanceof Error ? error.message : String(error)}\n`);
    });
  };
}
