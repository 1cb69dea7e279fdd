/**
 * The launcher run directly on an encoded plan, as a spawned launcher is: fd 3 the plan, fd 4 its
 * reports, stdout discarded; for tests of what the launcher itself does with a plan.
 */
import { spawn } from 'node:child_process';
import { decodeReport, REPORT_SIZE, type LauncherReport } from '../../src/launch/wire.js';
import { LAUNCHER } from './cli.js';

/** A report pipe's bytes, record by record. */
export function decodeReports(bytes: Buffer): LauncherReport[] {
  return Array.from({ length: Math.floor(bytes.length / REPORT_SIZE) }, (_, i) => decodeReport(bytes.subarray(i * REPORT_SIZE, (i + 1) * REPORT_SIZE)));
}

export function runLauncher(plan: Buffer, args: string[] = []): Promise<{ code: number | null; reports: LauncherReport[]; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(LAUNCHER, args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
    let stderr = '';
    const chunks: Buffer[] = [];
    child.stderr!.on('data', (c) => { stderr += c; });
    (child.stdio[4] as NodeJS.ReadableStream).on('data', (c: Buffer) => chunks.push(c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, reports: decodeReports(Buffer.concat(chunks)), stderr }));
    const input = child.stdio[3] as NodeJS.WritableStream;
    input.on('error', () => {}); // a launcher that refused the plan early closes its end: EPIPE
    input.end(plan);
  });
}
