/**
 * Architectures: the two we compile for, and the compat ABIs a 64-bit kernel also accepts, which a
 * filter must refuse (an i386 `int $0x80` from an x86_64 process reaches the i386 table with
 * AUDIT_ARCH_I386; an arm64 kernel with COMPAT runs AArch32 code with AUDIT_ARCH_ARM).
 */
import { SeccompError } from './errors.js';

/** Targets we compile filters for. */
export type TargetArch = 'x86_64' | 'aarch64';
/** Every ABI whose table we carry (targets + their compat ABIs). */
export type AnyArch = TargetArch | 'i386' | 'arm' | 'x32';

export const TARGET_ARCHES: readonly TargetArch[] = ['x86_64', 'aarch64'];

// AUDIT_ARCH_* = EM_* | __AUDIT_ARCH_64BIT (0x80000000) | __AUDIT_ARCH_LE (0x40000000) (include/uapi/linux/audit.h).
export const AUDIT_ARCH_X86_64 = 0xc000003e; // EM_X86_64 = 62
export const AUDIT_ARCH_I386 = 0x40000003; // EM_386 = 3
export const AUDIT_ARCH_AARCH64 = 0xc00000b7; // EM_AARCH64 = 183
export const AUDIT_ARCH_ARM = 0x40000028; // EM_ARM = 40

/** x32 syscalls arrive with AUDIT_ARCH_X86_64 and this bit set in nr (arch/x86/include/uapi/asm/unistd.h). */
export const X32_SYSCALL_BIT = 0x40000000;

export interface ArchInfo {
  readonly name: TargetArch;
  readonly auditArch: number;
  /** Compat ABIs the kernel may run in a process of this arch: the filter must reject them. */
  readonly compat: readonly { name: AnyArch; auditArch: number }[];
  /** Only x86_64 has the x32 ABI, selected by X32_SYSCALL_BIT under the native audit arch. */
  readonly hasX32: boolean;
  /** Both targets are little-endian: the low word of a 64-bit argument is at the lower offset. */
  readonly littleEndian: boolean;
  /** Names used for this arch in OCI (SCMP_ARCH_*) and moby includes/excludes (Go GOARCH and friends). */
  readonly ociNames: readonly string[];
  readonly mobyNames: readonly string[];
}

export const ARCHES: Readonly<Record<TargetArch, ArchInfo>> = {
  x86_64: {
    name: 'x86_64',
    auditArch: AUDIT_ARCH_X86_64,
    compat: [{ name: 'i386', auditArch: AUDIT_ARCH_I386 }],
    hasX32: true,
    littleEndian: true,
    ociNames: ['SCMP_ARCH_X86_64'],
    mobyNames: ['amd64', 'x86_64'],
  },
  aarch64: {
    name: 'aarch64',
    auditArch: AUDIT_ARCH_AARCH64,
    compat: [{ name: 'arm', auditArch: AUDIT_ARCH_ARM }],
    hasX32: false,
    littleEndian: true,
    ociNames: ['SCMP_ARCH_AARCH64'],
    mobyNames: ['arm64', 'aarch64'],
  },
};

/** Every OCI SCMP_ARCH_* name we recognise (others are reported as unknown). */
export const OCI_ARCH_NAMES: readonly string[] = [
  'SCMP_ARCH_X86', 'SCMP_ARCH_X86_64', 'SCMP_ARCH_X32', 'SCMP_ARCH_ARM', 'SCMP_ARCH_AARCH64',
  'SCMP_ARCH_MIPS', 'SCMP_ARCH_MIPS64', 'SCMP_ARCH_MIPS64N32', 'SCMP_ARCH_MIPSEL', 'SCMP_ARCH_MIPSEL64',
  'SCMP_ARCH_MIPSEL64N32', 'SCMP_ARCH_PPC', 'SCMP_ARCH_PPC64', 'SCMP_ARCH_PPC64LE', 'SCMP_ARCH_S390',
  'SCMP_ARCH_S390X', 'SCMP_ARCH_PARISC', 'SCMP_ARCH_PARISC64', 'SCMP_ARCH_RISCV64', 'SCMP_ARCH_LOONGARCH64',
  'SCMP_ARCH_M68K', 'SCMP_ARCH_SH', 'SCMP_ARCH_SHEB',
];

export function archInfo(arch: string): ArchInfo {
  if (arch === 'x86_64' || arch === 'aarch64') return ARCHES[arch];
  throw new SeccompError('ARCH_UNSUPPORTED', `arch ${JSON.stringify(arch)} is not supported; use x86_64 or aarch64`);
}

/** The arch of this Node process, for compiling a filter that will run here. */
export function hostArch(): TargetArch {
  if (process.arch === 'x64') return 'x86_64';
  if (process.arch === 'arm64') return 'aarch64';
  throw new SeccompError('ARCH_UNSUPPORTED', `host arch ${process.arch} is not supported; seccomp filters are built for x86_64 and aarch64`);
}

/** Audit arch value → the name we print (disassembler, explain). */
export function auditArchName(value: number): string | undefined {
  switch (value >>> 0) {
    case AUDIT_ARCH_X86_64: return 'x86_64';
    case AUDIT_ARCH_I386: return 'i386';
    case AUDIT_ARCH_AARCH64: return 'aarch64';
    case AUDIT_ARCH_ARM: return 'arm';
    default: return undefined;
  }
}
