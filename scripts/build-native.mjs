#!/usr/bin/env node
// Builds the native kernels (native/ → native/build/Release/funnel_native.node) with node-gyp.
// Run by `npm install` (the package's "install" script) and by hand. Never fails the install:
// on any problem it prints one warning line and exits 0, and Funnel uses the TypeScript
// kernels instead.
//
//   FUNNEL_PORTABLE=1     build for any CPU of this architecture (no -march=native)
//   FUNNEL_SKIP_NATIVE=1  do not build
//   FUNNEL_NATIVE_VERBOSE=1  show the compiler output even on success
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = join(root, 'native');
const verbose = Boolean(process.env.FUNNEL_NATIVE_VERBOSE);

function warn(msg) {
  console.warn(`funnel: native kernels not built (${msg}); using the TypeScript kernels (slower).`);
  process.exit(0);
}

if (process.env.FUNNEL_SKIP_NATIVE) {
  console.warn('funnel: FUNNEL_SKIP_NATIVE set; native kernels not built.');
  process.exit(0);
}
if (!existsSync(join(nativeDir, 'binding.gyp'))) warn('native/binding.gyp is missing');

/** node-gyp's entry script: a local install, npm's bundled copy, or the one next to `npm`. */
function findNodeGyp() {
  const candidates = [];
  try {
    candidates.push(createRequire(join(root, 'package.json')).resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    /* not installed locally */
  }
  if (process.env.npm_config_node_gyp) candidates.push(process.env.npm_config_node_gyp);
  if (process.env.npm_execpath) candidates.push(join(dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  const prefix = join(dirname(process.execPath), '..');
  candidates.push(join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  candidates.push(join(prefix, 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  return candidates.find((p) => existsSync(p));
}

/** Node's own headers, so node-gyp does not try to download them (offline builds). */
function findNodeDir() {
  if (process.env.npm_config_nodedir) return process.env.npm_config_nodedir;
  const prefix = join(dirname(process.execPath), '..');
  if (existsSync(join(prefix, 'include', 'node', 'node_api.h')) && existsSync(join(prefix, 'include', 'node', 'common.gypi'))) return prefix;
  return undefined;
}

const gyp = findNodeGyp();
const args = gyp ? [gyp] : [];
let cmd = process.execPath;
if (!gyp) {
  // Last resort: npx (needs node-gyp in the npm cache or a registry).
  cmd = process.platform === 'win32' ? 'npx.cmd' : 'npx';
  args.push('--no-install', 'node-gyp');
}
args.push('rebuild', `--directory=${nativeDir}`, '--release', `--jobs=${Math.max(1, Math.min(4, (await import('node:os')).availableParallelism()))}`);
const nodedir = findNodeDir();
if (nodedir) args.push(`--nodedir=${nodedir}`);

const started = Date.now();
const r = spawnSync(cmd, args, { cwd: nativeDir, encoding: 'utf8', env: process.env, stdio: verbose ? 'inherit' : 'pipe' });
const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
if (r.error || r.status !== 0) {
  // One line on the console; the whole compiler output goes to native/build/build.log.
  let where = '';
  try {
    mkdirSync(join(nativeDir, 'build'), { recursive: true });
    writeFileSync(join(nativeDir, 'build', 'build.log'), `${cmd} ${args.join(' ')}\n\n${out}`);
    where = '; log in native/build/build.log';
  } catch {
    /* read-only tree: no log */
  }
  const firstError = out.split('\n').find((l) => /\berror\b/i.test(l) && !/^gyp (ERR|info)/.test(l))?.trim().slice(0, 160);
  const cause = r.error ? r.error.message : `node-gyp exited with ${r.status}${gyp ? '' : ' (node-gyp not found)'}`;
  warn(`${cause}${firstError ? `: ${firstError}` : ''}${where}`);
}
const addon = join(nativeDir, 'build', 'Release', 'funnel_native.node');
if (!existsSync(addon)) warn(`${addon} was not produced`);
try {
  const info = createRequire(import.meta.url)(addon).buildInfo();
  const mode = process.env.FUNNEL_PORTABLE ? 'portable' : 'native';
  console.log(`funnel: native kernels built (${mode}, ${info.simd}, tile ${info.tile}) in ${((Date.now() - started) / 1000).toFixed(1)}s`);
} catch (err) {
  warn(`the built addon does not load: ${err.message}`);
}
