#!/usr/bin/env node
// cli.mjs: decides JSON Lines requests with a policy module and prints one JSON decision per
// line, in input order (see README.md).
//
//   node cli.mjs policy.wasm [requests.jsonl | -]     (stdin when no file or `-`)
//
// Blank lines are skipped; a line that is not valid JSON is the decision deny with E0701.
// Two modes for testing hosts against each other:
//   --encode   print each request's encoding as hex (`null` when it is invalid before encoding)
//   --raw      read hex-encoded bytes per line (a blank line is no bytes), pass them to
//              `rbac_decide` as they are, and print what it returned (`1`, `0`, `-code`) or
//              `"trap"`

import { readFileSync, createReadStream } from "node:fs";
import { loadPolicy, encodeRequest, parseJson, ModuleError, RequestError } from "./rbac.mjs";

const USAGE = "usage: node cli.mjs [--encode | --raw] POLICY.wasm [REQUESTS.jsonl | -]";

/** Yields the lines of a byte stream (without `\n`), as they arrive. */
async function* lines(stream) {
  let pending = Buffer.alloc(0);
  for await (const chunk of stream) {
    pending = Buffer.concat([pending, chunk]);
    let start = 0;
    for (let nl = pending.indexOf(10, start); nl !== -1; nl = pending.indexOf(10, start)) {
      yield pending.subarray(start, nl);
      start = nl + 1;
    }
    pending = pending.subarray(start);
  }
  if (pending.length > 0) yield pending;
}

// `ignoreBOM` keeps a byte order mark, which is not JSON: the line is malformed, as natively.
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const hex = (bytes) => Buffer.from(bytes).toString("hex");

/** One output line for one input line in the chosen mode. */
function answer(policy, mode, line) {
  let text;
  try {
    text = utf8.decode(line);
  } catch {
    text = null;
  }
  if (mode === "raw") {
    const digits = (text ?? "").trim();
    if (!/^(?:[0-9a-fA-F]{2})*$/.test(digits)) throw new Error(`not hex: ${digits.slice(0, 40)}`);
    try {
      return JSON.stringify(policy.decideRaw(Buffer.from(digits, "hex")));
    } catch {
      return JSON.stringify("trap");
    }
  }
  if (mode === "encode") {
    try {
      return JSON.stringify(hex(encodeRequest(parseJson(text ?? "\u0000"), policy.meta).bytes));
    } catch (e) {
      if (e instanceof RequestError) return "null";
      throw e;
    }
  }
  if (text === null) {
    return JSON.stringify({
      decision: "deny",
      errors: [{ code: "E0701", message: "malformed JSON request: the line is not UTF-8" }],
      reasons: [],
    });
  }
  return JSON.stringify(policy.decideJson(text));
}

async function main(argv) {
  let mode = "decide";
  const args = [];
  for (const a of argv) {
    if (a === "--encode") mode = "encode";
    else if (a === "--raw") mode = "raw";
    else if (a === "-h" || a === "--help") {
      console.log(USAGE);
      return 0;
    } else args.push(a);
  }
  if (args.length < 1 || args.length > 2) {
    console.error(USAGE);
    return 2;
  }
  let policy;
  try {
    policy = loadPolicy(readFileSync(args[0]));
  } catch (e) {
    const code = e instanceof ModuleError ? `[${e.code}]` : "";
    console.error(`error${code}: cannot load \`${args[0]}\`: ${e.message}`);
    return 2;
  }
  const input = args[1] === undefined || args[1] === "-" ? process.stdin : createReadStream(args[1]);
  try {
    for await (const line of lines(input)) {
      // Blank lines (JSON whitespace only) are skipped; in raw mode they are empty inputs.
      if (mode !== "raw" && line.every((b) => b === 0x20 || b === 0x09 || b === 0x0d)) continue;
      if (!process.stdout.write(answer(policy, mode, line) + "\n")) {
        await new Promise((resolve) => process.stdout.once("drain", resolve));
      }
    }
  } catch (e) {
    console.error(`error: reading \`${args[1] ?? "-"}\`: ${e.message}`);
    return 2;
  }
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
