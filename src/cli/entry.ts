/** The module worker processes run (server.workers > 1): the CLI, as bin/gatehouse.js runs it. */
import { main } from './main.js';

process.exitCode = await main(process.argv.slice(2));
