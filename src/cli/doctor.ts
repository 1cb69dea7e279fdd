/**
 * `sandbox doctor [--json]`: what this host can enforce, and for each missing piece the command that
 * fixes it. The checks themselves live in src/host/doctor-checks.ts.
 */
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { runDoctorChecks, type Check } from '../host/doctor-checks.js';
import { COMMAND_INFO } from './commands.js';

interface DoctorArgs { json?: boolean; clean?: boolean }

function format(checks: Check[]): string {
  const mark = { ok: 'ok  ', warn: 'warn', fail: 'FAIL' } as const;
  return checks.map((c) => {
    const lines = [`[${mark[c.status]}] ${c.name}: ${c.detail}`];
    if (c.fix) lines.push(`       fix: ${c.fix}`);
    return lines.join('\n');
  }).join('\n') + '\n';
}

async function handler(argv: ArgumentsCamelCase<DoctorArgs>): Promise<void> {
  const report = await runDoctorChecks({ clean: argv.clean === true });
  const cleaned = (report.cleaned ? `removed ${report.cleaned.length} leftover cgroup(s)${report.cleaned.map((p) => `\n  ${p}`).join('')}\n` : '') +
    (report.uidSlots ? `removed ${report.uidSlots.removed} unused uid-slot lock file(s); ${report.uidSlots.held} held by running sandboxes\n` : '');
  process.stdout.write(argv.json ? `${JSON.stringify(report, null, 2)}\n` : format(report.checks) + cleaned);
  process.exitCode = report.checks.some((c) => c.status === 'fail') ? 1 : 0;
}

export const doctorCommand: CommandModule<object, DoctorArgs> = {
  ...COMMAND_INFO.doctor,
  builder: (y: Argv) => y
    .option('json', { type: 'boolean', describe: 'machine-readable output' })
    .option('clean', { type: 'boolean', describe: 'also remove leftovers (cgroups, temp dirs) of runs whose supervisor was killed, and unused uid-slot lock files' }) as unknown as Argv<DoctorArgs>,
  handler,
};
