import { GatehouseError } from '../core/errors.js';

/** A configuration error: one line per problem, each naming the path. The CLI exits with status 2. */
export class ConfigError extends GatehouseError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[], code: 'GH_CONFIG_INVALID' | 'GH_CONFIG_MISSING_VAR' | 'GH_CONFIG_FILE_UNREADABLE' | 'GH_CONFIG_PRODUCTION_REFUSED' = 'GH_CONFIG_INVALID') {
    super(code, problems.join('\n'));
    this.problems = problems;
  }
}
