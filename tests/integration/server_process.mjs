// Starts `hanlin serve` on a free loopback port for a test file and stops it afterwards.
// HANLIN_BINARY and HANLIN_DEMO_MODEL come from ctest (tests/CMakeLists.txt).
import { spawn } from "node:child_process";
import net from "node:net";

export const binary = process.env.HANLIN_BINARY;
export const demoModel = process.env.HANLIN_DEMO_MODEL;

// Resolves with {process, baseUrl, port, exited} once the server prints its address.
export function startServer(extraArgs = []) {
  const args = ["serve", "--model", demoModel, "--served-model-name", "demo", "--port", "0", "--threads", "2",
                "--kv-cache-gb", "0.5", ...extraArgs];
  const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (chunk) => { stderr += chunk; });
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal, stderr })));
  return new Promise((resolve, reject) => {
    let stdout = "";
    const timer = setTimeout(() => reject(new Error("hanlin serve did not start: " + stderr)), 30000);
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
      const match = stdout.match(/on http:\/\/127\.0\.0\.1:(\d+)/);
      if (match) {
        clearTimeout(timer);
        const port = Number(match[1]);
        resolve({ process: child, port, baseUrl: `http://127.0.0.1:${port}`, exited, stderr: () => stderr });
      }
    });
    child.on("exit", (code) => { clearTimeout(timer); reject(new Error(`hanlin serve exited ${code}: ${stderr}`)); });
  });
}

export async function stopServer(server) {
  server.process.kill("SIGTERM");
  return server.exited;
}

// One raw HTTP/1.1 exchange over a fresh socket: what clients never send. Resolves with the
// response's status line, headers and body text once the server closes or `untilText` shows up.
export function rawRequest(port, bytes, { untilText = null, timeoutMs = 10000 } = {}) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    let data = Buffer.alloc(0);
    const timer = setTimeout(() => { socket.destroy(); resolve(parse(data)); }, timeoutMs);
    socket.on("data", (chunk) => {
      data = Buffer.concat([data, chunk]);
      if (untilText && data.toString("latin1").includes(untilText)) { clearTimeout(timer); socket.destroy(); resolve(parse(data)); }
    });
    socket.on("end", () => { clearTimeout(timer); resolve(parse(data)); });
    socket.on("error", (error) => { clearTimeout(timer); error.code === "ECONNRESET" ? resolve(parse(data)) : reject(error); });
    socket.write(bytes);
  });
}

function parse(data) {
  const text = data.toString("utf8");
  const split = text.indexOf("\r\n\r\n");
  const head = split < 0 ? text : text.slice(0, split);
  const status = Number((head.match(/^HTTP\/1\.1 (\d+)/) || [])[1] || 0);
  return { status, head, body: split < 0 ? "" : text.slice(split + 4) };
}

export function post(path, body) {
  const json = JSON.stringify(body);
  return `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(json)}\r\nConnection: close\r\n\r\n${json}`;
}

// The value of a Prometheus sample line, e.g. metric('vllm:num_requests_running{model_name="demo"}').
export async function metric(baseUrl, sample) {
  const text = await (await fetch(baseUrl + "/metrics")).text();
  const line = text.split("\n").find((l) => l.startsWith(sample + " "));
  return line === undefined ? undefined : Number(line.slice(sample.length + 1));
}
