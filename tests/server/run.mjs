#!/usr/bin/env node
// Runs the server suite: `node tests/server/run.mjs` (AMSTORE_BIN defaults to build/amstore).
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const bin = process.env.AMSTORE_BIN
  ? path.resolve(process.env.AMSTORE_BIN)
  : path.join(here, '..', '..', 'build', 'amstore')
if (!fs.existsSync(bin)) {
  console.error(`amstore binary not found at ${bin}; build it or set AMSTORE_BIN`)
  process.exit(2)
}
if (!fs.existsSync(path.join(here, '..', 'interop', 'node_modules', '@automerge', 'automerge'))) {
  console.error('@automerge/automerge missing: run `npm ci` in tests/interop')
  process.exit(2)
}
const files = fs.readdirSync(here).filter((f) => f.endsWith('.test.mjs')).sort()
  .map((f) => path.join(here, f))
// The suite takes ~20 s here. A bound, so that a test that hangs (a server left running
// keeps its test file alive) fails the run instead of holding CI until its own limit.
const limitMs = Number(process.env.AMSTORE_SERVER_SUITE_TIMEOUT_MS || 10 * 60 * 1000)
const r = spawnSync(process.execPath, ['--test', ...files], {
  stdio: 'inherit',
  env: { ...process.env, AMSTORE_BIN: bin },
  timeout: limitMs,
  killSignal: 'SIGKILL'
})
if (r.error?.code === 'ETIMEDOUT') {
  console.error(`server suite: still running after ${limitMs / 1000} s; stopped (a hung test?)`)
  process.exit(1)
}
process.exit(r.status ?? 1)
