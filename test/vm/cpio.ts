/**
 * A minimal writer for the "newc" cpio format the kernel unpacks as an initramfs. Writing it ourselves needs no
 * cpio(1) and no privileges: device nodes (/dev/console) are just header fields.
 */

export interface CpioEntry {
  name: string; // relative, no leading slash
  mode: number; // including the file type bits (0o040000 dir, 0o100000 file, 0o020000 char device, 0o120000 link)
  data?: Buffer; // file content or symlink target
  rdevMajor?: number;
  rdevMinor?: number;
}

export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFCHR = 0o020000;

const hex8 = (n: number) => n.toString(16).padStart(8, '0');
const pad4 = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);

export function cpioArchive(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  const push = (e: CpioEntry) => {
    const data = e.data ?? Buffer.alloc(0);
    const name = Buffer.from(e.name + '\0');
    const header = Buffer.from(
      '070701' +
        [
          ino++, e.mode, 0 /* uid */, 0 /* gid */, (e.mode & 0o170000) === S_IFDIR ? 2 : 1, 0 /* mtime */, data.length,
          0, 0, e.rdevMajor ?? 0, e.rdevMinor ?? 0, name.length, 0 /* check */,
        ].map(hex8).join(''),
      'ascii',
    );
    parts.push(header, name, pad4(header.length + name.length), data, pad4(data.length));
  };
  for (const e of entries) push(e);
  push({ name: 'TRAILER!!!', mode: 0 });
  return Buffer.concat(parts);
}
