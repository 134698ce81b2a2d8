/**
 * Executing CNI plugins (CNI spec 1.0.0, "Execution Protocol"): the network
 * configuration on stdin, parameters in CNI_* environment variables, a
 * result or an error object on stdout.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { CniPluginError } from '../errors.js';

/** The plugin operations berth uses. */
export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'VERSION';

/** A CNI 1.0.0 result (spec "Success"). */
export interface CniResult {
  cniVersion: string;
  interfaces?: Array<{ name: string; mac?: string; sandbox?: string }>;
  ips?: Array<{ interface?: number; address: string; gateway?: string }>;
  routes?: Array<{ dst: string; gw?: string }>;
  dns?: Record<string, unknown>;
}

/** Parameters of one plugin invocation. */
export interface CniInvocation {
  command: CniCommand;
  containerId: string;
  netns: string;
  ifname: string;
  /** CNI_ARGS, e.g. `IgnoreUnknown=1;IP=10.89.0.5`. */
  args?: string;
  /** The plugin's configuration object, with name, cniVersion, prevResult, runtimeConfig filled. */
  config: Record<string, unknown>;
}

/** Runs one plugin binary found in `pluginDirs`; returns its parsed stdout (or undefined when empty). */
export async function execPlugin(pluginDirs: readonly string[], inv: CniInvocation): Promise<CniResult | undefined> {
  const type = String(inv.config.type);
  if (!/^[a-z0-9_-]+$/i.test(type)) throw new CniPluginError(type, inv.command, undefined, 'invalid plugin type');
  const bin = path.join(pluginDirs[0]!, type);
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_COMMAND: inv.command,
    CNI_CONTAINERID: inv.containerId,
    CNI_NETNS: inv.netns,
    CNI_IFNAME: inv.ifname,
    CNI_PATH: pluginDirs.join(':'),
  };
  if (inv.args) env.CNI_ARGS = inv.args;
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(bin, [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; });
    child.on('error', (e) => reject(new CniPluginError(type, inv.command, undefined, String(e), { cause: e })));
    child.on('close', (c) => resolve({ code: c, stdout: out, stderr: err }));
    child.stdin.on('error', () => undefined);
    child.stdin.end(JSON.stringify(inv.config));
  });
  if (code !== 0) {
    let cniCode: number | undefined;
    let msg = stderr.trim() || `exit ${code}`;
    try {
      const e = JSON.parse(stdout) as { code?: number; msg?: string; details?: string };
      cniCode = e.code;
      msg = [e.msg, e.details].filter(Boolean).join(': ') || msg;
    } catch { /* not JSON */ }
    throw new CniPluginError(type, inv.command, cniCode, msg, { details: { stderr } });
  }
  if (!stdout.trim()) return undefined;
  try {
    return JSON.parse(stdout) as CniResult;
  } catch (e) {
    throw new CniPluginError(type, inv.command, undefined, 'plugin printed invalid JSON', { cause: e, details: { stdout } });
  }
}

/** A network configuration list (CNI spec "Network Configuration Lists"). */
export interface CniConfList {
  cniVersion: string;
  name: string;
  plugins: Array<Record<string, unknown> & { type: string; capabilities?: Record<string, boolean> }>;
}

/** Runtime values handed to plugins that declare the matching capability. */
export interface CniRuntimeConfig {
  portMappings?: unknown[];
}

function pluginConfig(list: CniConfList, plugin: CniConfList['plugins'][number], rt: CniRuntimeConfig, prevResult?: CniResult): Record<string, unknown> {
  const conf: Record<string, unknown> = { ...plugin, name: list.name, cniVersion: list.cniVersion };
  const runtimeConfig: Record<string, unknown> = {};
  for (const [cap, on] of Object.entries(plugin.capabilities ?? {})) {
    const v = (rt as Record<string, unknown>)[cap];
    if (on && v !== undefined) runtimeConfig[cap] = v;
  }
  if (Object.keys(runtimeConfig).length) conf.runtimeConfig = runtimeConfig;
  if (prevResult) conf.prevResult = prevResult;
  return conf;
}

/** ADD through the chain: each plugin gets the previous result; returns the last. */
export async function addNetworkList(pluginDirs: readonly string[], list: CniConfList, base: Omit<CniInvocation, 'command' | 'config'>, rt: CniRuntimeConfig): Promise<CniResult> {
  let prev: CniResult | undefined;
  for (const plugin of list.plugins) {
    const r = await execPlugin(pluginDirs, { ...base, command: 'ADD', config: pluginConfig(list, plugin, rt, prev) });
    if (r) prev = r;
  }
  return prev ?? { cniVersion: list.cniVersion };
}

/** CHECK through the chain with the cached ADD result. */
export async function checkNetworkList(pluginDirs: readonly string[], list: CniConfList, base: Omit<CniInvocation, 'command' | 'config'>, rt: CniRuntimeConfig, cached: CniResult): Promise<void> {
  for (const plugin of list.plugins) await execPlugin(pluginDirs, { ...base, command: 'CHECK', config: pluginConfig(list, plugin, rt, cached) });
}

/** DEL through the chain in reverse order; every plugin runs, the first failure is thrown afterwards. */
export async function delNetworkList(pluginDirs: readonly string[], list: CniConfList, base: Omit<CniInvocation, 'command' | 'config'>, rt: CniRuntimeConfig, cached?: CniResult): Promise<void> {
  let first: unknown;
  for (const plugin of [...list.plugins].reverse()) {
    try {
      await execPlugin(pluginDirs, { ...base, command: 'DEL', config: pluginConfig(list, plugin, rt, cached) });
    } catch (e) {
      first ??= e;
    }
  }
  if (first) throw first;
}
