/**
 * Name, usage and one-line description of each top-level command, apart from the command modules:
 * main.ts lists the commands (top-level --help, --version, an unknown command) without loading them.
 * Each command module spreads its entry into its CommandModule, so the two never differ.
 */
export const COMMAND_INFO = {
  exec: { command: 'exec [command..]', describe: 'run a command in a new sandbox' },
  doctor: { command: 'doctor', describe: 'show what this host can enforce and how to fix what it cannot' },
  policy: { command: 'policy <command>', describe: 'check, compile and explain the seccomp filter of a policy' },
  image: { command: 'image <command>', describe: 'OCI images: import, list, inspect, remove, sign and verify' },
  'verify-bundle': { command: 'verify-bundle <file-or-digest>', describe: 'verify a sigstore bundle for a file or digest (sigstore-conformance protocol)' },
} as const;

export type CommandName = keyof typeof COMMAND_INFO;
