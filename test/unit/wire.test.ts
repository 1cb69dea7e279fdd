/**
 * encodePlan (src/launch/wire.ts), read back by an independent little decoder written from the record
 * layout documented in native/launcher.h. The numbers below are spelled out here on purpose instead
 * of imported from wire.ts: this test checks the bytes, not that the encoder agrees with itself.
 * (test/launch/wire-sync.test.ts checks that wire.ts and launcher.h agree on the numbers.)
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { buildPlan } from '../../src/launch/plan.js';
import type { LaunchPlan, MountAttr, MountOp } from '../../src/launch/types.js';
import { checkPlanLimits, decodeReport, encodePlan, REPORT, sourceTable } from '../../src/launch/wire.js';
import { policy, request } from './fixtures.js';

const MAGIC = Buffer.from('SBX1', 'latin1');
const T = { NAMESPACES: 1, ID_MAP: 3, HOSTNAME: 4, CGROUP_PROCS: 5, BIND_SOURCE: 6, ROOT: 7, MOUNT: 8, RLIMIT: 9, ENV: 10, CWD: 11, ARGV: 12, SECCOMP: 13, END: 14 };
const OPS = ['', 'tmpfs', 'bind', 'proc', 'dir', 'file', 'symlink', 'rebind'] as const;
const ATTRS: [MountAttr, number][] = [['ro', 1], ['nosuid', 2], ['nodev', 4], ['noexec', 8], ['ifExists', 16]];
const RESOURCES: Record<number, string> = { 0: 'cpu', 1: 'fsize', 3: 'stack', 4: 'core', 6: 'nproc', 7: 'nofile', 8: 'memlock', 9: 'as' };
// CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET
const ALL_NAMESPACES = 0x00020000n | 0x02000000n | 0x04000000n | 0x08000000n | 0x10000000n | 0x20000000n | 0x40000000n;

interface Rec { tag: number; payload: Buffer }

function records(buf: Buffer): Rec[] {
  assert.ok(buf.subarray(0, 4).equals(MAGIC), 'starts with "SBX1"');
  assert.equal(buf.readUInt32LE(4), buf.length, 'the header length is the total length');
  const out: Rec[] = [];
  let off = 8;
  while (off < buf.length) {
    assert.ok(off + 8 <= buf.length, `record header at ${off} fits`);
    const tag = buf.readUInt16LE(off);
    assert.equal(buf.readUInt16LE(off + 2), 0, `record at ${off}: reserved u16 is zero`);
    const len = buf.readUInt32LE(off + 4);
    assert.ok(off + 8 + len <= buf.length, `record at ${off} (tag ${tag}, ${len} bytes) fits`);
    out.push({ tag, payload: buf.subarray(off + 8, off + 8 + len) });
    off += 8 + len;
  }
  assert.equal(off, buf.length, 'records end exactly at the end');
  return out;
}

class Reader {
  private off = 0;
  constructor(private readonly b: Buffer) {}
  u32(): number { const v = this.b.readUInt32LE(this.off); this.off += 4; return v; }
  u64(): bigint { const v = this.b.readBigUInt64LE(this.off); this.off += 8; return v; }
  bytes(): Buffer { const n = this.u32(); const v = this.b.subarray(this.off, this.off + n); assert.equal(v.length, n, 'string fits'); this.off += n; return v; }
  str(): string { return this.bytes().toString('utf8'); }
  done(): void { assert.equal(this.off, this.b.length, 'payload fully consumed'); }
}

function attrsOf(bits: number): MountAttr[] {
  assert.equal(bits & ~31, 0, `no unknown attribute bits: ${bits}`);
  return ATTRS.filter(([, bit]) => bits & bit).map(([a]) => a);
}

const sortedAttrs = (m: MountOp): MountOp => ('attrs' in m ? { ...m, attrs: [...m.attrs].sort() } : m);

/** A MOUNT payload back to a MountOp, given the decoded source table. */
function decodeMount(p: Buffer, sources: string[]): MountOp {
  const r = new Reader(p);
  const op = OPS[r.u32()];
  const attrs = attrsOf(r.u32());
  const src = r.u32();
  const mode = r.u32();
  const target = r.str();
  const data = r.str();
  r.done();
  if (op !== 'bind') assert.equal(src, 0, `${op} ${target}: source index 0`);
  if (op !== 'dir' && op !== 'file') assert.equal(mode, 0, `${op} ${target}: mode 0`);
  if (op !== 'tmpfs' && op !== 'file' && op !== 'symlink') assert.equal(data, '', `${op} ${target}: no data`);
  if (op === 'dir' || op === 'file' || op === 'symlink') assert.deepEqual(attrs, [], `${op} ${target}: no attrs`);
  switch (op) {
    case 'tmpfs': return { op, target, options: data, attrs };
    case 'bind': assert.ok(src < sources.length, `source index ${src} in range`); return { op, target, source: sources[src]!, attrs };
    case 'proc': return { op, target, attrs };
    case 'rebind': return { op, target, attrs };
    case 'dir': return { op, target, mode };
    case 'file': return { op, target, mode, content: data };
    case 'symlink': return { op, target, linkTo: data };
    default: throw new Error(`unknown op ${String(op)}`);
  }
}

function samplePlan(): LaunchPlan {
  return buildPlan(request({
    policy: policy('strict'),
    argv: ['/bin/sh', '-c', 'echo "$X"', 'arg with spaces', 'ünïcödé'],
    binds: [
      { source: '/srv/data', target: '/data', mode: 'ro' },
      { source: '/srv/data', target: '/data2', mode: 'rw' }, // the same source twice
      { source: '/home/u/work', target: '/work', mode: 'rw' },
    ],
    tmpfs: [{ target: '/scratch', size: '3M' }],
    workdir: '/work',
    env: { X: 'välue=with=equals' },
    hostIds: { uid: 1879048200, gid: 1879048201 },
    cgroupProcs: ['/sys/fs/cgroup/sbx/run1/cgroup.procs', '/sys/fs/cgroup/pids/sbx/cgroup.procs'],
    seccomp: { hash: 'h', instructions: 2, source: 'test', program: Buffer.from('0600000000000000060000000000ff7f', 'hex') },
    extraRlimits: [{ resource: 'cpu', soft: 2, hard: 'unlimited' }],
  }));
}

describe('encodePlan', () => {
  const plan = samplePlan();
  const buf = encodePlan(plan);
  const recs = records(buf);
  const of = (tag: number) => recs.filter((r) => r.tag === tag);

  test('records come in the documented order and END is last and empty', () => {
    const order = [T.NAMESPACES, T.ID_MAP, T.HOSTNAME, T.CGROUP_PROCS, T.BIND_SOURCE, T.ROOT, T.MOUNT, T.RLIMIT, T.ENV, T.CWD, T.ARGV, T.SECCOMP, T.END];
    const seen = recs.map((r) => r.tag);
    const ranks = seen.map((t) => order.indexOf(t));
    assert.ok(ranks.every((r) => r >= 0), `only known tags: ${seen}`);
    assert.deepEqual(ranks, [...ranks].sort((a, b) => a - b), `tags in order: ${seen}`);
    assert.equal(recs.at(-1)!.tag, T.END);
    assert.equal(recs.at(-1)!.payload.length, 0);
    assert.equal(of(T.END).length, 1);
    for (const t of [T.NAMESPACES, T.ID_MAP, T.HOSTNAME, T.ROOT, T.CWD, T.SECCOMP]) assert.equal(of(t).length, 1, `one record of tag ${t}`);
  });

  test('total length: header + every record header and payload', () => {
    const sum = 8 + recs.reduce((n, r) => n + 8 + r.payload.length, 0);
    assert.equal(sum, buf.length);
    assert.equal(buf.readUInt32LE(4), buf.length);
  });

  test('namespaces: the seven clone flags', () => {
    const [r] = of(T.NAMESPACES);
    assert.equal(r!.payload.length, 8);
    assert.equal(r!.payload.readBigUInt64LE(0), ALL_NAMESPACES);
  });

  test('id map: inside uid/gid, then host uid/gid', () => {
    const r = new Reader(of(T.ID_MAP)[0]!.payload);
    assert.deepEqual([r.u32(), r.u32(), r.u32(), r.u32()], [1000, 1000, 1879048200, 1879048201]);
    r.done();
  });

  test('hostname, cwd, cgroup files, env and argv are raw UTF-8 payloads', () => {
    assert.equal(of(T.HOSTNAME)[0]!.payload.toString(), 'sandbox');
    assert.equal(of(T.CWD)[0]!.payload.toString(), '/work');
    assert.deepEqual(of(T.CGROUP_PROCS).map((r) => r.payload.toString()), plan.cgroupProcs);
    assert.deepEqual(of(T.ENV).map((r) => r.payload.toString('utf8')), plan.env);
    assert.ok(plan.env.includes('X=välue=with=equals'));
    assert.deepEqual(of(T.ARGV).map((r) => r.payload.toString('utf8')), ['/bin/sh', '-c', 'echo "$X"', 'arg with spaces', 'ünïcödé']);
    // lengths are bytes, not UTF-16 units
    const uni = of(T.ARGV)[4]!.payload;
    assert.equal(uni.length, Buffer.byteLength('ünïcödé'));
  });

  test('source table: each bind source exactly once, in first-use order', () => {
    const sources = of(T.BIND_SOURCE).map((r) => r.payload.toString());
    assert.equal(new Set(sources).size, sources.length, `no duplicates: ${sources}`);
    const used: string[] = [];
    for (const m of plan.mounts) if (m.op === 'bind' && !used.includes(m.source)) used.push(m.source);
    assert.deepEqual(sources, used);
    assert.ok(sources.includes('/dev/null') && sources.includes('/srv/data') && sources.includes('/home/u/work'));
    assert.deepEqual(sourceTable(plan), sources);
  });

  test('mounts decode back to the plan, bind sources through their index', () => {
    const sources = of(T.BIND_SOURCE).map((r) => r.payload.toString());
    const decoded = of(T.MOUNT).map((r) => decodeMount(r.payload, sources));
    assert.equal(decoded.length, plan.mounts.length);
    assert.deepEqual(decoded.map(sortedAttrs), plan.mounts.map(sortedAttrs));
    // /dev/null serves every /proc mask and the device bind: one table entry, many references
    const nullIndex = sources.indexOf('/dev/null');
    const refs = of(T.MOUNT).filter((r) => r.payload.readUInt32LE(0) === 2 && r.payload.readUInt32LE(8) === nullIndex);
    assert.ok(refs.length > 5, `${refs.length} mounts refer to /dev/null`);
  });

  test('root: tmpfs kind 0, source index 0, its options', () => {
    const r = new Reader(of(T.ROOT)[0]!.payload);
    assert.deepEqual([r.u32(), r.u32(), r.str()], [0, 0, 'mode=0755,size=1m,nr_inodes=4096']);
    r.done();
  });

  test('rlimits: resource number, soft and hard as u64, unlimited as all ones', () => {
    const got = of(T.RLIMIT).map((rec) => {
      const r = new Reader(rec.payload);
      const v = [RESOURCES[r.u32()], r.u64(), r.u64()];
      r.done();
      return v;
    });
    assert.deepEqual(got, [
      ['core', 0n, 0n],
      ['nofile', 256n, 256n],
      ['fsize', 1073741824n, 1073741824n],
      ['cpu', 2n, 0xffffffffffffffffn],
    ]);
  });

  test('seccomp: the program bytes as they are', () => {
    assert.ok(of(T.SECCOMP)[0]!.payload.equals(plan.seccomp!.program));
  });
});

describe('encodePlan: other shapes', () => {
  test('no seccomp record without a program; no cgroup records without cgroups', () => {
    const recs = records(encodePlan(buildPlan(request())));
    assert.equal(recs.filter((r) => r.tag === T.SECCOMP).length, 0);
    assert.equal(recs.filter((r) => r.tag === T.CGROUP_PROCS).length, 0);
    assert.equal(recs.at(-1)!.tag, T.END);
  });

  for (const [writable, kind] of [[true, 2], [false, 1]] as const) {
    test(`image root (writable: ${writable}): kind ${kind}, the rootfs is source 0 and is sent once`, () => {
      const p = policy();
      p.image.writable = writable;
      const rootfs = '/var/lib/sandbox/images/x/rootfs';
      const plan = buildPlan(request({
        policy: p,
        image: { rootfs, digest: 'sha256:x', env: [], workingDir: '/' },
        binds: [{ source: rootfs, target: '/again', mode: 'ro' }],
      }));
      const recs = records(encodePlan(plan));
      const sources = recs.filter((r) => r.tag === T.BIND_SOURCE).map((r) => r.payload.toString());
      assert.equal(sources[0], rootfs);
      assert.equal(sources.filter((s) => s === rootfs).length, 1);
      const r = new Reader(recs.find((x) => x.tag === T.ROOT)!.payload);
      assert.deepEqual([r.u32(), r.u32(), r.str()], [kind, 0, `mode=0755,size=${256 * 1024 * 1024}`]);
      r.done();
      const again = recs.filter((x) => x.tag === T.MOUNT).map((x) => decodeMount(x.payload, sources)).find((m) => m.target === '/again');
      assert.deepEqual(again, { op: 'bind', target: '/again', source: rootfs, attrs: ['ro', 'nosuid', 'nodev'] });
    });
  }

  // checkPlanLimits sums the encoded size without encoding: it must count what encodePlan writes
  test('checkPlanLimits returns the encoded size, for every record kind', () => {
    const p = policy();
    const plans: LaunchPlan[] = [
      samplePlan(),
      { ...samplePlan(), relay: ['stdout', 'stderr'], relayLimit: 10, uidSlots: { first: 1879048192, count: 65536, lockDir: '/run/sandbox/uid-slots' }, cpuUsageFile: '/sys/fs/cgroup/sandbox/r1/cpu.stat' },
      buildPlan(request({ policy: p, image: { rootfs: '/images/x/rootfs', digest: 'sha256:x', env: ['A=b'], workingDir: '/' } })),
    ];
    for (const plan of plans) assert.equal(checkPlanLimits(plan), encodePlan(plan).length);
  });

  test('the CPU counter is a record of its own, its path as the payload', () => {
    const path = '/sys/fs/cgroup/cpuacct/sandbox/r1.2.3/cpuacct.usage';
    const recs = records(encodePlan({ ...samplePlan(), cpuUsageFile: path }));
    assert.deepEqual(recs.filter((r) => r.tag === 17).map((r) => r.payload.toString()), [path]);
    assert.equal(records(encodePlan(samplePlan())).filter((r) => r.tag === 17).length, 0, 'none without one');
  });

  test('encoding is deterministic', () => {
    const plan = samplePlan();
    assert.ok(encodePlan(plan).equals(encodePlan(plan)));
  });
});

describe('decodeReport: the clock report', () => {
  // launcher.h REPORT_CLOCK: step 1 or 2, err:index = CLOCK_MONOTONIC ns as high:low 32 bits
  const record = (step: number, ns: bigint) => {
    const b = Buffer.alloc(16);
    b.writeUInt32LE(REPORT.CLOCK, 0);
    b.writeUInt32LE(step, 4);
    b.writeUInt32LE(Number(ns >> 32n), 8); // the C side writes the high half into the int32 field
    b.writeUInt32LE(Number(ns & 0xffffffffn), 12);
    return b;
  };
  test('64-bit times come back whole, the high half read unsigned', () => {
    for (const ns of [0n, 1n, 0xffffffffn, 0x1_0000_0000n, 123_456_789_012_345n, 0xffff_ffff_ffff_ffffn]) {
      assert.deepEqual(decodeReport(record(1, ns)), { type: 'clock', which: 'start', ns });
      assert.deepEqual(decodeReport(record(2, ns)), { type: 'clock', which: 'end', ns });
    }
  });
});

describe('decodeReport: init\'s rusage and context switches', () => {
  const record = (type: number, step: number, err: number, index: number) => {
    const b = Buffer.alloc(16);
    b.writeUInt32LE(type, 0);
    b.writeUInt32LE(step, 4);
    b.writeUInt32LE(err >>> 0, 8);
    b.writeUInt32LE(index, 12);
    return b;
  };
  test('the CPU time is 64 bits (step:index): past 2^32 µs, 71 minutes, it is not cut', () => {
    assert.deepEqual(decodeReport(record(REPORT.RUSAGE, 0, 2048, 1_500)), { type: 'rusage', maxRssKiB: 2048, cpuUs: 1_500 });
    const threeHours = 3 * 3600 * 1_000_000;
    assert.deepEqual(decodeReport(record(REPORT.RUSAGE, Math.floor(threeHours / 2 ** 32), 2048, threeHours % 2 ** 32)), { type: 'rusage', maxRssKiB: 2048, cpuUs: threeHours });
  });
  test('context switches: voluntary in err, involuntary in index, both read unsigned', () => {
    assert.deepEqual(decodeReport(record(REPORT.CSW, 0, 5, 2)), { type: 'csw', voluntary: 5, involuntary: 2 });
    assert.deepEqual(decodeReport(record(REPORT.CSW, 0, 0xffffffff, 0xffffffff)), { type: 'csw', voluntary: 0xffffffff, involuntary: 0xffffffff });
  });
});
