/** Helpers for network tests: processes inside a network namespace file. */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';

/** Runs `args` inside the namespace and collects its output. */
export function inNetns(netns: string, args: string[], input = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn('nsenter', [`--net=${netns}`, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d) => { stdout += d; });
    c.stderr.on('data', (d) => { stderr += d; });
    c.on('error', reject);
    c.on('close', (code) => resolve({ code, stdout, stderr }));
    c.stdin.on('error', () => undefined); // EPIPE when the command is done before its input is written (a busy machine)
    c.stdin.end(input);
  });
}

/** Starts a TCP server inside the namespace on `port` that answers `pong <name>` and closes; resolves once listening. */
export async function tcpServerIn(netns: string, port: number, name: string): Promise<ChildProcess> {
  const code = `const s=require('net').createServer(c=>{c.end('pong ${name}\\n')});s.listen(${port},'0.0.0.0',()=>console.log('ready'))`;
  const c = spawn('nsenter', [`--net=${netns}`, process.execPath, '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [data] = await once(c.stdout!, 'data') as [Buffer];
  if (!String(data).includes('ready')) throw new Error(`server did not start: ${data}`);
  return c;
}

/** Node code that connects to host:port, prints the reply, and exits non-zero on error. */
export function tcpClientCode(host: string, port: number): string {
  return `const c=require('net').connect(${port},${JSON.stringify(host)});let d='';c.on('data',x=>d+=x);c.on('end',()=>{process.stdout.write(d)});c.on('error',e=>{console.error(String(e));process.exit(1)})`;
}
