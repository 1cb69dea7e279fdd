// Type of the module generated at build time (scripts/postbuild.mjs → dist/src/policy/validated-at-build.js):
// the exact texts of the shipped policies (policies/*.json), each validated by the build.
export declare const VALIDATED_AT_BUILD: ReadonlySet<string>;
