#!/usr/bin/env node
// The `lanemesh` executable: parses the command line with the program of program.ts; no logic here.
import { buildProgram } from "./program.js";

await (await buildProgram(process.argv)).parseAsync(process.argv);
