/** The generator's version: part of every cache key, so a new generator never serves an old program. */
export const GENERATOR_VERSION = 'seccomp-bpf-ts/1';
