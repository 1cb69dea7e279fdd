import { type Action } from '../actions.js';
import { type RuleBuilder } from './builder.js';

/** What a front-end hands to the compiler: actions, and the rules collected in a builder. */
export interface ParsedProfile {
  readonly format: 'sandbox' | 'oci';
  readonly defaultAction: Action;
  readonly badArchAction: Action;
  readonly builder: RuleBuilder;
  readonly flags: number;
}
