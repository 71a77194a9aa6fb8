#!/usr/bin/env node
// Generates the API's TypeScript types from its OpenAPI document with openapi-typescript.
//
//   node scripts/generate.mjs <document.json> <out.ts>
//
// The document is read and parsed here and handed to the generator as an object, so the output
// carries no path, and the options below are fixed, so two runs on one document write the same
// bytes. Never edit the output by hand: change the document (or these options) and run it again.
import { readFile, writeFile } from "node:fs/promises";
import process from "node:process";
import openapiTS, { astToString, COMMENT_HEADER } from "openapi-typescript";

/** The generator's options, fixed so that the output depends on the document alone. */
const OPTIONS = Object.freeze({
  silent: true, // no progress lines with timings
  alphabetize: false, // keep the document's own order
  additionalProperties: false, // objects are closed unless the schema says otherwise
  defaultNonNullable: true, // a field with a default is never absent in an answer
  exportType: false, // `export interface …`
  enum: false, // string unions, no runtime enums: the file holds types only
  immutable: false,
  pathParamsAsTypes: false, // `paths["/v1/projects/{projectId}"]`, as openapi-fetch expects
  rootTypes: false, // the wrapper exports its own named aliases
});

async function main() {
  const [input, output] = process.argv.slice(2);
  if (!input || !output) {
    console.error("usage: node scripts/generate.mjs <document.json> <out.ts>");
    process.exit(2);
  }
  const document = JSON.parse(await readFile(input, "utf8"));
  const ast = await openapiTS(document, OPTIONS);
  const source = COMMENT_HEADER + astToString(ast);
  await writeFile(output, source.endsWith("\n") ? source : `${source}\n`);
}

main().catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
