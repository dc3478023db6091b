#!/usr/bin/env node
/**
 * Load generator of `make bench`: runs one scenario against one server and prints one JSON line.
 *
 *   node loadgen.js --config CONFIG.json      (or the JSON itself as the only argument)
 *
 * CONFIG: {
 *   "scenario":  "throughput" | "latency" | "fanout" | "memory" | "soak" | "soakDrops" | "connect"
 *                | "rooms",
 *   "url":       "http://127.0.0.1:PORT",
 *   "protocol":  "socketio" | "ws",            // "ws" = the raw WebSocket reference (ref_ws.js)
 *   "transport": "websocket" | "polling",      // Socket.IO only
 *   "users":     [{"id": 1, "auth": {...}}],   // handshake auth per user, e.g. {"token": T}
 *   "serverPid": 1234,                         // for RSS and CPU readings of the server
 *   "foreignPid": 1235,                        // throughput: another node's CPU, same window
 *   "idle": {"url": ..., "user": {...}},        // throughput: one idle session there first
 *   "spreadUrl": "http://127.0.0.1:5002",      // every other session on this server instead
 *   "clockTicks": 100,                         // SC_CLK_TCK, to read /proc/PID/stat
 *   "timeoutMs": 600000,                       // hard stop, whatever happens
 *   "params":    {...}                         // per scenario, see the DEFAULTS below
 * }
 *
 * Everything is bounded in time or count, so the process always ends by itself. It uses the
 * official `socket.io-client`, the same client a browser game would use, so every server is
 * measured through the same client code; stderr carries progress, stdout only the result.
 */
"use strict";

const fs = require("fs");
const http = require("http");
const { performance } = require("perf_hooks");
const { io } = require("socket.io-client");
const WebSocket = require("ws");

const DEFAULTS = {
  throughput: { pairs: 50, window: 8, warmupMs: 2000, durationMs: 10000 },
  latency: { pairs: 50, rates: [500, 2000], warmupMs: 2000, durationMs: 10000, drainMs: 3000 },
  fanout: {
    sessions: 200,
    senders: 10,
    startRate: 10,
    maxRate: 5000,
    refineSteps: 2,
    stepMs: 5000,
    deadlineMs: 1000,
    passFraction: 0.99,
    drainMs: 3000,
  },
  memory: { levels: [100, 1000, 5000], distinctUsers: 100, settleMs: 2000 },
  soak: {
    sessions: 1000,
    totalRate: 500,
    durationMs: 300000,
    drainMs: 5000,
    sampleEveryMs: 10000,
    closeSettleMs: 2000,
  },
  soakDrops: {
    sessions: 1000,
    totalRate: 500,
    durationMs: 300000,
    drainMs: 10000,
    dropFraction: 0.05,
    dropEveryMs: 3000,
    reconnectionDelayMs: 1000, // socket.io-client's default
    reconnectWaitMs: 30000,
  },
  connect: { users: 1000, namespace: "/chat", settleMs: 1000 },
  rooms: { rooms: 1000, roomSize: 10, ratePerPlayer: 5, warmupMs: 2000, durationMs: 10000, drainMs: 5000 },
};
const CONNECT_CONCURRENCY = 50;
const CONNECT_TIMEOUT_MS = 30000;

const log = (...args) => console.error("[loadgen]", ...args);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const now = () => performance.now();

// ---------------------------------------------------------------------------------------------
// Sessions: one interface over Socket.IO and raw-WebSocket clients
// ---------------------------------------------------------------------------------------------

/** One keep-alive agent for long-polling; without it every poll opens a new TCP connection. */
const pollingAgent = new http.Agent({ keepAlive: true, maxSockets: Infinity });

/**
 * A connected client session of `user` on `namespace`, ready once the server's `presence`
 * arrived (docs/protocol.md, "Presence": every new session gets it), so the server has registered it by then.
 */
function openSession(config, namespace, user, watch, clientOptions) {
  const open = config.protocol === "ws" ? openWsSession : openSocketIoSession;
  return open(config, namespace, user, watch, clientOptions);
}

/**
 * `watch(session)`, if given, is called before the handshake, so it sees every event.
 * `clientOptions` go to `io()` last, e.g. `{reconnection: true}` for a session that reconnects
 * by itself when its connection drops, as a game's would.
 */
function openSocketIoSession(config, namespace, user, watch, clientOptions) {
  const polling = config.transport === "polling";
  const socket = io(config.url + namespace, {
    transports: [polling ? "polling" : "websocket"],
    forceNew: true, // one Engine.IO connection per session, as separate tabs would have
    reconnection: false,
    timeout: CONNECT_TIMEOUT_MS,
    auth: user.auth,
    ...(polling ? { agent: pollingAgent } : {}),
    ...clientOptions,
  });
  const session = {
    user,
    on: (event, handler) => socket.on(event, handler),
    off: (event, handler) => socket.off(event, handler),
    emit: (event, data) => socket.emit(event, data),
    close: () => socket.close(),
    onAny: (handler) => socket.onAny(handler),
    emitWithAck: (event, data) => socket.timeout(CONNECT_TIMEOUT_MS).emitWithAck(event, data),
    socket,
  };
  if (watch) watch(session);
  return whenPresent(session, (fail) => socket.on("connect_error", (err) => fail(err.message)));
}

function openWsSession(config, namespace, user) {
  const url = config.url.replace(/^http/, "ws") + namespace + "?user_id=" + user.id;
  const ws = new WebSocket(url, { perMessageDeflate: false });
  const handlers = new Map();
  ws.on("message", (raw) => {
    const frame = JSON.parse(raw);
    const handler = handlers.get(frame.type);
    if (handler) handler(frame.data);
  });
  const session = {
    user,
    on: (event, handler) => handlers.set(event, handler),
    off: (event) => handlers.delete(event),
    emit: (event, data) => ws.send(JSON.stringify({ type: event, data })),
    close: () => ws.close(),
  };
  return whenPresent(session, (fail) => {
    ws.on("error", (err) => fail(err.message));
    ws.on("close", (code, reason) => fail(`closed ${code} ${reason}`));
  });
}

function whenPresent(session, onFailure) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no presence within timeout")), CONNECT_TIMEOUT_MS);
    session.on("presence", () => {
      clearTimeout(timer);
      resolve(session);
    });
    onFailure((why) => {
      clearTimeout(timer);
      reject(new Error(`session of user ${session.user.id} failed: ${why}`));
    });
  });
}

/** Opens one session per entry of `users`, at most CONNECT_CONCURRENCY handshakes at a time. */
async function openSessions(config, namespace, users, watch, clientOptions = {}) {
  const sessions = new Array(users.length);
  let next = 0;
  async function worker() {
    while (next < users.length) {
      const index = next++;
      const here = config.spreadUrl && index % 2 === 1 ? { ...config, url: config.spreadUrl } : config;
      sessions[index] = await openSession(here, namespace, users[index], watch, clientOptions);
    }
  }
  const workers = Array.from({ length: Math.min(CONNECT_CONCURRENCY, users.length) }, worker);
  await Promise.all(workers);
  return sessions;
}

function closeAll(sessions) {
  for (const session of sessions) if (session) session.close();
}

/** Counts `error` events (docs/protocol.md, "Rules for every event": failures without an ack) so a result can't hide them. */
function countErrors(sessions, counter) {
  for (const session of sessions) {
    session.on("error", (data) => {
      counter.errors++;
      if (counter.errors <= 3) log("server error event:", JSON.stringify(data));
    });
  }
}

function requireUsers(config, count) {
  if (config.users.length < count) {
    throw new Error(`scenario needs ${count} users, config has ${config.users.length}`);
  }
  return config.users.slice(0, count);
}

// ---------------------------------------------------------------------------------------------
// Measurement helpers
// ---------------------------------------------------------------------------------------------

/** Resident set size of a process in bytes, from /proc (Linux only), or null when unknown. */
function rssBytes(pid) {
  if (!pid) return null;
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** CPU seconds (user + system) a process has used, from /proc/PID/stat, or null when unknown. */
function cpuSeconds(pid, clockTicks) {
  if (!pid) return null;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" "); // fields[0] is field 3
    return (Number(fields[11]) + Number(fields[12])) / (clockTicks || 100);
  } catch {
    return null;
  }
}

/** CPU seconds all CPUs of the machine spent busy (not idle or iowait) since boot, from /proc/stat. */
function machineBusySeconds(clockTicks) {
  try {
    const fields = fs.readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1, 9).map(Number);
    const [user, nice, system, idle, iowait, irq, softirq, steal] = fields;
    return (user + nice + system + irq + softirq + steal) / (clockTicks || 100);
  } catch {
    return null;
  }
}

/**
 * Starts a measuring window; `end()` returns how busy the load generator and the server were
 * during it, in percent of one core. A result where the load generator is near 100 % is a
 * figure of the load generator, not of the server.
 */
function cpuWindow(config) {
  const wallStart = now();
  const loadgenStart = process.cpuUsage();
  const serverStart = cpuSeconds(config.serverPid, config.clockTicks);
  const machineStart = machineBusySeconds(config.clockTicks);
  return {
    end() {
      const wallS = (now() - wallStart) / 1000;
      const loadgen = process.cpuUsage(loadgenStart);
      const loadgenS = (loadgen.user + loadgen.system) / 1e6;
      const serverEnd = cpuSeconds(config.serverPid, config.clockTicks);
      const serverS = serverStart === null || serverEnd === null ? null : serverEnd - serverStart;
      const machineEnd = machineBusySeconds(config.clockTicks);
      const othersS =
        machineStart === null || machineEnd === null || serverS === null
          ? null
          : Math.max(0, machineEnd - machineStart - serverS - loadgenS);
      return {
        wall_s: wallS,
        server_cpu_s: serverS,
        server_cpu_percent: serverS === null ? null : (100 * serverS) / wallS,
        loadgen_cpu_percent: (100 * loadgenS) / wallS,
        // Everything else on the machine, in % of one core: well above 0, the figure is skewed.
        others_cpu_percent: othersS === null ? null : (100 * othersS) / wallS,
      };
    },
  };
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1));
  return sorted[index];
}

function summarizeLatencies(samples) {
  const sorted = Float64Array.from(samples).sort();
  const round = (x) => (x === null ? null : Math.round(x * 1000) / 1000);
  const mean = sorted.length ? sorted.reduce((a, b) => a + b, 0) / sorted.length : null;
  return {
    samples: sorted.length,
    p50_ms: round(percentile(sorted, 0.5)),
    p90_ms: round(percentile(sorted, 0.9)),
    p99_ms: round(percentile(sorted, 0.99)),
    max_ms: round(percentile(sorted, 1)),
    mean_ms: round(mean),
  };
}

/**
 * Open-loop sender: calls `sendOne(i)` so that `rate` calls per second happen for `durationMs`,
 * whatever the server does (no waiting for replies), which is what "offered load" means.
 * A 1 ms ticker sends whatever is due, so bursts stay within a millisecond's worth.
 */
function runOpenLoop(rate, durationMs, sendOne) {
  return new Promise((resolve) => {
    const start = now();
    let sent = 0;
    const tick = () => {
      const elapsed = Math.min(now() - start, durationMs);
      const due = Math.floor((elapsed * rate) / 1000);
      while (sent < due) sendOne(sent++);
      if (elapsed >= durationMs) {
        clearInterval(timer);
        resolve({ sent, elapsedMs: now() - start });
      }
    };
    const timer = setInterval(tick, 1);
  });
}

/** Waits until `isDone()` or `maxMs` passed, polling every 20 ms. */
async function waitUntil(isDone, maxMs) {
  const deadline = now() + maxMs;
  while (!isDone() && now() < deadline) await sleep(20);
  return isDone();
}

/** Pairs users 2i and 2i+1, each the other's forward target. */
function pairUp(sessions) {
  const partners = new Map();
  for (let i = 0; i + 1 < sessions.length; i += 2) {
    partners.set(sessions[i], sessions[i + 1].user.id);
    partners.set(sessions[i + 1], sessions[i].user.id);
  }
  return partners;
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

/**
 * (A) Forward throughput, closed loop: each pair keeps `window` messages in flight, bouncing
 * each `forwarded` back to its sender. The figure is deliveries per second after a warm-up.
 */
async function scenarioThroughput(config, p) {
  // The cluster scenario: one idle session on another node (config.idle = {url, user}), whose
  // CPU (config.foreignPid) is measured in the same window as the serving node's.
  const idle = config.idle ? await openSession({ ...config, url: config.idle.url }, "/forward", config.idle.user) : null;
  const sessions = await openSessions(config, "/forward", requireUsers(config, 2 * p.pairs));
  const counter = { errors: 0 };
  countErrors(sessions, counter);
  let measuring = false;
  let stopping = false;
  let delivered = 0;
  for (const session of sessions) {
    session.on("forwarded", (data) => {
      if (measuring) delivered++;
      if (!stopping) session.emit("forward", { target: data.sender, n: data.n + 1 });
    });
  }
  const partners = pairUp(sessions);
  for (let i = 0; i < sessions.length; i += 2) {
    for (let w = 0; w < p.window; w++) sessions[i].emit("forward", { target: partners.get(sessions[i]), n: 0 });
  }
  await sleep(p.warmupMs);
  measuring = true;
  const window = cpuWindow(config);
  const foreignStart = cpuSeconds(config.foreignPid, config.clockTicks);
  await sleep(p.durationMs);
  measuring = false;
  const cpu = window.end();
  const foreignEnd = cpuSeconds(config.foreignPid, config.clockTicks);
  stopping = true;
  await sleep(200);
  closeAll(sessions);
  if (idle) idle.close();
  const foreign = foreignStart === null || foreignEnd === null ? null : foreignEnd - foreignStart;
  return {
    ...(config.foreignPid ? { foreign_cpu_s: foreign, server_cpu_s: cpu.server_cpu_s } : {}),
    pairs: p.pairs,
    window: p.window,
    delivered,
    duration_s: cpu.wall_s,
    msgs_per_s: delivered / cpu.wall_s,
    msgs_per_server_cpu_s: cpu.server_cpu_s ? delivered / cpu.server_cpu_s : null,
    server_cpu_percent: cpu.server_cpu_percent,
    loadgen_cpu_percent: cpu.loadgen_cpu_percent,
    others_cpu_percent: cpu.others_cpu_percent,
    errors: counter.errors,
  };
}

/**
 * (B) Forward latency at fixed offered loads, open loop: sends at `rate` msgs/s in total, spread
 * round-robin over every session, each to its partner; the payload carries the send time, and
 * sender and receiver share this process's clock.
 */
async function scenarioLatency(config, p) {
  const sessions = await openSessions(config, "/forward", requireUsers(config, 2 * p.pairs));
  const counter = { errors: 0 };
  countErrors(sessions, counter);
  const partners = pairUp(sessions);
  const results = [];
  for (const [phase, rate] of p.rates.entries()) {
    results.push(await measureLatencyAt(config, sessions, partners, phase, rate, p));
  }
  closeAll(sessions);
  return { pairs: p.pairs, loads: results, errors: counter.errors };
}

async function measureLatencyAt(config, sessions, partners, phase, rate, p) {
  const samples = [];
  let received = 0;
  const measureFrom = now() + p.warmupMs;
  const onForwarded = (data) => {
    if (data.phase !== phase) return;
    received++;
    if (data.t >= measureFrom) samples.push(now() - data.t);
  };
  for (const session of sessions) session.on("forwarded", onForwarded);
  const window = cpuWindow(config);
  const { sent, elapsedMs } = await runOpenLoop(rate, p.warmupMs + p.durationMs, (i) => {
    const session = sessions[i % sessions.length];
    session.emit("forward", { target: partners.get(session), phase, t: now() });
  });
  const cpu = window.end();
  await waitUntil(() => received >= sent, p.drainMs);
  for (const session of sessions) session.off("forwarded", onForwarded);
  return {
    offered_msgs_per_s: rate,
    achieved_msgs_per_s: sent / (elapsedMs / 1000),
    sent,
    received,
    lost: sent - received,
    server_cpu_percent: cpu.server_cpu_percent,
    loadgen_cpu_percent: cpu.loadgen_cpu_percent,
    others_cpu_percent: cpu.others_cpu_percent,
    ...summarizeLatencies(samples),
  };
}

/**
 * (C) Chat fan-out to `sessions` sessions: for a step of `stepMs`, `senders` sessions send chat
 * messages at `rate` msgs/s in total; a step passes when ≥ passFraction of all deliveries
 * (messages × sessions) arrive within deadlineMs. Doubling, then bisection, finds the highest
 * passing rate; the figure is that step's on-time deliveries per second.
 */
async function scenarioFanout(config, p) {
  const sessions = await openSessions(config, "/chat", requireUsers(config, p.sessions));
  const counter = { errors: 0 };
  countErrors(sessions, counter);
  const steps = [];
  const runStep = async (rate) => {
    const result = await fanoutStep(config, sessions, steps.length, rate, p);
    steps.push(result);
    log(`fanout step ${rate} msgs/s: ${(100 * result.on_time_fraction).toFixed(2)}% on time`);
    return result.passed;
  };
  let pass = null;
  let fail = null;
  for (let rate = p.startRate; rate <= p.maxRate; rate *= 2) {
    if (!(await runStep(rate))) {
      fail = rate;
      break;
    }
    pass = rate;
  }
  for (let i = 0; i < p.refineSteps && pass !== null && fail !== null && fail - pass > 1; i++) {
    const middle = Math.round((pass + fail) / 2);
    if (await runStep(middle)) pass = middle;
    else fail = middle;
  }
  closeAll(sessions);
  const best = steps.filter((s) => s.passed).sort((a, b) => b.deliveries_per_s - a.deliveries_per_s)[0];
  return {
    sessions: p.sessions,
    best_rate_msgs_per_s: best ? best.rate_msgs_per_s : 0,
    deliveries_per_s: best ? best.deliveries_per_s : 0,
    steps,
    errors: counter.errors,
  };
}

async function fanoutStep(config, sessions, step, rate, p) {
  const sendTimes = [];
  let delivered = 0;
  let onTime = 0;
  const onMessage = (msg) => {
    const [tag, stepText, seqText] = msg.message.split(" ");
    if (tag !== "bench" || Number(stepText) !== step) return;
    delivered++;
    if (now() - sendTimes[Number(seqText)] <= p.deadlineMs) onTime++;
  };
  for (const session of sessions) session.on("message", onMessage);
  const senders = sessions.slice(0, p.senders);
  const window = cpuWindow(config);
  const { sent, elapsedMs } = await runOpenLoop(rate, p.stepMs, (seq) => {
    sendTimes[seq] = now();
    senders[seq % senders.length].emit("message", { message: `bench ${step} ${seq}` });
  });
  const cpu = window.end();
  const expected = sent * sessions.length;
  await waitUntil(() => delivered >= expected, p.drainMs);
  for (const session of sessions) session.off("message", onMessage);
  const fraction = expected ? onTime / expected : 0;
  return {
    rate_msgs_per_s: rate,
    sent,
    expected_deliveries: expected,
    delivered,
    on_time: onTime,
    on_time_fraction: fraction,
    deliveries_per_s: onTime / (elapsedMs / 1000),
    server_cpu_percent: cpu.server_cpu_percent,
    loadgen_cpu_percent: cpu.loadgen_cpu_percent,
    others_cpu_percent: cpu.others_cpu_percent,
    passed: sent > 0 && fraction >= p.passFraction,
  };
}

/**
 * (D) Memory per idle WebSocket connection and connect rate: opens sessions on /forward up to
 * each level (users reused round-robin from `distinctUsers`, so presence traffic stays linear),
 * lets the server settle, and divides its RSS growth over the idle baseline by the level.
 */
async function scenarioMemory(config, p) {
  const users = requireUsers(config, Math.min(p.distinctUsers, Math.max(...p.levels)));
  await sleep(p.settleMs);
  const baseline = rssBytes(config.serverPid);
  const sessions = [];
  const levels = [];
  for (const level of p.levels) {
    const wanted = Array.from({ length: level - sessions.length }, (_, i) => users[(sessions.length + i) % users.length]);
    const start = now();
    sessions.push(...(await openSessions(config, "/forward", wanted)));
    const connectMs = now() - start;
    await sleep(p.settleMs);
    const rss = rssBytes(config.serverPid);
    levels.push({
      connections: level,
      connects_per_s: wanted.length / (connectMs / 1000),
      rss_bytes: rss,
      bytes_per_connection: rss === null || baseline === null ? null : (rss - baseline) / level,
    });
    log(`memory: ${level} connections, ${levels[levels.length - 1].bytes_per_connection} B/conn`);
  }
  closeAll(sessions);
  return { baseline_rss_bytes: baseline, distinct_users: users.length, levels };
}

/**
 * (E) Soak: `sessions` sessions in pairs exchange numbered messages at `totalRate` for
 * `durationMs`; every receiver checks each sender's sequence for gaps (lost), repeats
 * (duplicated) and going backwards (reordered), and server RSS is sampled throughout.
 */
async function scenarioSoak(config, p) {
  const rssIdle = rssBytes(config.serverPid);
  const sessions = await openSessions(config, "/forward", requireUsers(config, p.sessions));
  const counter = { errors: 0 };
  countErrors(sessions, counter);
  const partners = pairUp(sessions);
  const streams = sessions.map(() => ({ highest: -1, seen: new Set() }));
  const tally = { received: 0, duplicated: 0, reordered: 0 };
  for (const session of sessions) {
    session.on("forwarded", (data) => {
      const stream = streams[data.s];
      tally.received++;
      if (stream.seen.has(data.n)) return void tally.duplicated++;
      stream.seen.add(data.n);
      if (data.n < stream.highest) tally.reordered++;
      stream.highest = Math.max(stream.highest, data.n);
    });
  }
  const rssConnected = rssBytes(config.serverPid);
  const samples = [];
  const trafficStart = now();
  const sample = () => ({ t_s: Math.round((now() - trafficStart) / 1000), rss_bytes: rssBytes(config.serverPid) });
  const sampler = setInterval(() => samples.push(sample()), p.sampleEveryMs);
  const nextSeq = sessions.map(() => 0);
  const { sent } = await runOpenLoop(p.totalRate, p.durationMs, (i) => {
    const s = i % sessions.length;
    sessions[s].emit("forward", { target: partners.get(sessions[s]), s, n: nextSeq[s]++ });
  });
  clearInterval(sampler);
  await waitUntil(() => tally.received >= sent, p.drainMs);
  const rssAfter = rssBytes(config.serverPid);
  closeAll(sessions);
  await sleep(p.closeSettleMs);
  const unique = streams.reduce((sum, stream) => sum + stream.seen.size, 0);
  return {
    sessions: sessions.length,
    sent,
    received: tally.received,
    lost: sent - unique,
    duplicated: tally.duplicated,
    reordered: tally.reordered,
    errors: counter.errors,
    rss_idle_bytes: rssIdle,
    rss_connected_bytes: rssConnected,
    rss_after_traffic_bytes: rssAfter,
    rss_after_close_bytes: rssBytes(config.serverPid),
    rss_samples: samples,
  };
}

/**
 * (H) Soak with drops: the soak's pairs and numbered forwards, each sent with an ack, while
 * `dropFraction` of the sessions (spread evenly) lose their connection every `dropEveryMs`
 * (± half, at random) the way a network drops it (cutConnection): no Socket.IO disconnect. The
 * official client reconnects by itself after `reconnectionDelayMs` and asks for what it missed
 * (docs/protocol.md, "Reconnecting without losing a message"). Each receiver checks each
 * sender's sequence: every message the server acked `ok` arrives exactly once and in order.
 * A message whose ack never came (its sender's connection dropped with it in flight) may or
 * may not have reached the server: it is "in doubt", never counted as lost.
 */
async function scenarioSoakDrops(config, p) {
  const users = requireUsers(config, p.sessions);
  const clientOptions = { reconnection: true, reconnectionDelay: p.reconnectionDelayMs };
  const sessions = await openSessions(config, "/forward", users, null, clientOptions);
  const counter = { errors: 0 };
  countErrors(sessions, counter);
  const partners = pairUp(sessions);
  const streams = sessions.map(() => ({ highest: -1, seen: new Set(), accepted: new Set() }));
  const tally = {
    ...{ received: 0, duplicated: 0, reordered: 0, accepted: 0, acceptedReceived: 0 },
    ...{ pending: 0, inDoubt: 0, ackTimeouts: 0, rejected: 0, rejectedCodes: {} },
    ...{ heldAcks: 0, heldRecipients: 0, userLeft: 0 },
  };
  for (const session of sessions) {
    session.on("forwarded", (data) => {
      const stream = streams[data.s];
      tally.received++;
      if (stream.seen.has(data.n)) return void tally.duplicated++;
      stream.seen.add(data.n);
      if (stream.accepted.has(data.n)) tally.acceptedReceived++;
      if (data.n < stream.highest) tally.reordered++;
      stream.highest = Math.max(stream.highest, data.n);
    });
    // A drop that is held and recovered is never announced: a leave means one was not.
    session.on("user_left", () => tally.userLeft++);
  }
  const onAck = (stream, n) => (err, reply) => {
    tally.pending--;
    if (err) {
      if (/disconnected/.test(err.message)) tally.inDoubt++;
      else tally.ackTimeouts++;
    } else if (reply && reply.ok) {
      tally.accepted++;
      stream.accepted.add(n);
      if (stream.seen.has(n)) tally.acceptedReceived++;
      if (reply.held) {
        tally.heldAcks++;
        tally.heldRecipients += reply.held;
      }
    } else {
      tally.rejected++;
      const code = (reply && reply.error) || JSON.stringify(reply);
      tally.rejectedCodes[code] = (tally.rejectedCodes[code] || 0) + 1;
    }
  };
  const drops = startDrops(sessions, p);
  const rssConnected = rssBytes(config.serverPid);
  const nextSeq = sessions.map(() => 0);
  const { sent } = await runOpenLoop(p.totalRate, p.durationMs, (i) => {
    const s = i % sessions.length;
    const n = nextSeq[s]++;
    const target = partners.get(sessions[s]);
    tally.pending++;
    sessions[s].socket.timeout(CONNECT_TIMEOUT_MS).emit("forward", { target, s, n }, onAck(streams[s], n));
  });
  const allReconnected = await drops.stop(p.reconnectWaitMs);
  await waitUntil(() => tally.pending === 0 && tally.acceptedReceived >= tally.accepted, p.drainMs);
  const rssAfter = rssBytes(config.serverPid);
  closeAll(sessions);
  return {
    sessions: sessions.length,
    dropping_sessions: drops.sessions.length,
    sent,
    accepted: tally.accepted,
    received: tally.received,
    lost: tally.accepted - tally.acceptedReceived,
    duplicated: tally.duplicated,
    reordered: tally.reordered,
    in_doubt: tally.inDoubt,
    ack_timeouts: tally.ackTimeouts,
    rejected: tally.rejected,
    rejected_codes: tally.rejectedCodes,
    held_acks: tally.heldAcks,
    held_recipients: tally.heldRecipients,
    drops: drops.counts.drops,
    recoveries: drops.counts.recoveries,
    failed_recoveries: drops.counts.failed,
    all_reconnected: allReconnected,
    user_left_seen: tally.userLeft,
    errors: counter.errors,
    rss_connected_bytes: rssConnected,
    rss_after_traffic_bytes: rssAfter,
  };
}

/**
 * A network drop under a client (as tests/recovering_client.js does): on a WebSocket the TCP
 * connection is destroyed, so what the server wrote and the client did not read yet is lost
 * and the client's transport closes abnormally; on long-polling the transport is closed.
 */
function cutConnection(socket) {
  const ws = socket.io.engine.transport.ws;
  if (ws && ws._socket) ws._socket.destroy();
  else socket.io.engine.close();
}

/**
 * Every 1/`dropFraction`-th session drops its connection `dropEveryMs` (± half) after each
 * connect, and counts whether the client's reconnect recovered (`socket.recovered`).
 * `stop(maxMs)` ends the drops and waits until every dropped session is connected again.
 */
function startDrops(sessions, p) {
  const count = Math.floor(sessions.length * p.dropFraction);
  const chosen = Array.from({ length: count }, (_, k) => sessions[Math.floor(k / p.dropFraction)]);
  const counts = { drops: 0, recoveries: 0, failed: 0 };
  let dropping = true;
  const timers = new Map();
  const schedule = (session) => {
    const delay = p.dropEveryMs * (0.5 + Math.random());
    timers.set(session, setTimeout(() => {
      if (!dropping) return;
      counts.drops++;
      cutConnection(session.socket);
    }, delay));
  };
  for (const session of chosen) {
    session.socket.on("connect", () => {
      if (session.socket.recovered) counts.recoveries++;
      else counts.failed++;
      if (dropping) schedule(session);
    });
    schedule(session);
  }
  return {
    sessions: chosen,
    counts,
    async stop(maxMs) {
      dropping = false;
      for (const timer of timers.values()) clearTimeout(timer);
      return waitUntil(() => chosen.every((session) => session.socket.connected), maxMs);
    },
  };
}

/**
 * (F) Connecting `users` distinct users to one namespace, CONNECT_CONCURRENCY handshakes in
 * flight (docs/protocol.md, "Presence limit"): how long until every session has its
 * `presence`, the server's CPU per connect over that time plus `settleMs` (so that presence
 * fan-out still queued at the end is paid for), and the presence events (`presence`,
 * `user_joined`, `user_left`, `presence_count`) the clients received, per connect.
 */
async function scenarioConnect(config, p) {
  const users = requireUsers(config, p.users);
  const events = { presence: 0, user_joined: 0, user_left: 0, presence_count: 0 };
  const watch = (session) =>
    session.onAny((event) => {
      if (event in events) events[event]++;
    });
  const window = cpuWindow(config);
  const start = now();
  const sessions = await openSessions(config, p.namespace, users, watch);
  const connectMs = now() - start;
  const atConnected = { ...events };
  await sleep(p.settleMs);
  const cpu = window.end();
  closeAll(sessions);
  const total = Object.values(events).reduce((a, b) => a + b, 0);
  return {
    users: users.length,
    connect_s: connectMs / 1000,
    connects_per_s: users.length / (connectMs / 1000),
    server_cpu_s: cpu.server_cpu_s,
    server_cpu_ms_per_connect: cpu.server_cpu_s === null ? null : (1000 * cpu.server_cpu_s) / users.length,
    presence_events: events,
    presence_events_at_connected: atConnected,
    presence_events_per_connect: total / users.length,
    loadgen_cpu_percent: cpu.loadgen_cpu_percent,
    others_cpu_percent: cpu.others_cpu_percent,
  };
}

/**
 * (G) Room fan-out on /forward (docs/protocol.md, "Rooms"): `rooms` rooms of `roomSize`
 * distinct users, each player sending `ratePerPlayer` msgs/s to its room (open loop, spread
 * evenly). Every `forwarded` carries its send time. After a warm-up: the deliveries per
 * second that arrived in the measuring window (whenever sent: an overloaded server delivers
 * its backlog), and the latency percentiles of every delivery from the start to the end of
 * the drain, so that a server that falls behind shows it in p99 rather than in no figure.
 */
async function scenarioRooms(config, p) {
  const users = requireUsers(config, p.rooms * p.roomSize);
  const sessions = await openSessions(config, "/forward", users);
  const counter = { errors: 0 };
  countErrors(sessions, counter);
  await joinRooms(sessions, p);
  let delivered = 0;
  const latencies = [];
  for (const session of sessions) {
    session.on("forwarded", (data) => {
      delivered++;
      latencies.push(now() - data.t);
    });
  }
  const rate = sessions.length * p.ratePerPlayer;
  const send = (i) => {
    const session = sessions[i % sessions.length];
    session.emit("forward", { room: session.room, t: now() });
  };
  const warmup = await runOpenLoop(rate, p.warmupMs, send);
  const window = cpuWindow(config);
  const before = delivered;
  const { sent, elapsedMs } = await runOpenLoop(rate, p.durationMs, send);
  const cpu = window.end();
  const inWindow = delivered - before;
  const expected = (warmup.sent + sent) * (p.roomSize - 1);
  await waitUntil(() => delivered >= expected, p.drainMs);
  closeAll(sessions);
  return {
    rooms: p.rooms,
    room_size: p.roomSize,
    offered_msgs_per_s: rate,
    sent: warmup.sent + sent,
    expected_deliveries: expected,
    delivered,
    deliveries_per_s: inWindow / (elapsedMs / 1000),
    latency: summarizeLatencies(latencies),
    errors: counter.errors,
    server_cpu_percent: cpu.server_cpu_percent,
    loadgen_cpu_percent: cpu.loadgen_cpu_percent,
    others_cpu_percent: cpu.others_cpu_percent,
  };
}

/** Session k joins room `bench-room-<k div roomSize>`, CONNECT_CONCURRENCY joins in flight. */
async function joinRooms(sessions, p) {
  let next = 0;
  async function worker() {
    while (next < sessions.length) {
      const index = next++;
      const session = sessions[index];
      session.room = `bench-room-${Math.floor(index / p.roomSize)}`;
      const reply = await session.emitWithAck("join", { room: session.room });
      if (!reply || !reply.ok) throw new Error(`join ${session.room}: ${JSON.stringify(reply)}`);
    }
  }
  await Promise.all(Array.from({ length: Math.min(CONNECT_CONCURRENCY, sessions.length) }, worker));
}

const SCENARIOS = {
  throughput: scenarioThroughput,
  latency: scenarioLatency,
  fanout: scenarioFanout,
  memory: scenarioMemory,
  soak: scenarioSoak,
  soakDrops: scenarioSoakDrops,
  connect: scenarioConnect,
  rooms: scenarioRooms,
};

// ---------------------------------------------------------------------------------------------
// Entry point
// ---------------------------------------------------------------------------------------------

function readConfig(argv) {
  const configIndex = argv.indexOf("--config");
  const text = configIndex >= 0 ? fs.readFileSync(argv[configIndex + 1], "utf8") : argv[0];
  if (!text) throw new Error("usage: node loadgen.js --config FILE.json | node loadgen.js '{...}'");
  const config = JSON.parse(text);
  if (!SCENARIOS[config.scenario]) throw new Error(`unknown scenario ${config.scenario}`);
  config.protocol = config.protocol || "socketio";
  config.transport = config.transport || "websocket";
  config.users = config.users || [];
  return config;
}

function printResult(result) {
  process.stdout.write(JSON.stringify(result) + "\n");
}

async function main() {
  const config = readConfig(process.argv.slice(2));
  const params = { ...DEFAULTS[config.scenario], ...(config.params || {}) };
  const hardStop = setTimeout(() => {
    printResult({ scenario: config.scenario, ok: false, error: `timed out after ${config.timeoutMs} ms` });
    process.exit(2);
  }, config.timeoutMs || 600000);
  const cpuBefore = process.cpuUsage();
  const wallBefore = now();
  const metrics = await SCENARIOS[config.scenario](config, params);
  const cpu = process.cpuUsage(cpuBefore);
  const wallMs = now() - wallBefore;
  clearTimeout(hardStop);
  printResult({
    scenario: config.scenario,
    ok: true,
    params,
    ...metrics,
    loadgen_cpu: {
      user_ms: cpu.user / 1000,
      system_ms: cpu.system / 1000,
      wall_ms: wallMs,
      percent_of_one_core: (100 * (cpu.user + cpu.system)) / 1000 / wallMs,
    },
  });
  process.exit(0); // don't linger on half-closed sockets or keep-alive agents
}

main().catch((err) => {
  printResult({ scenario: process.argv.slice(2).join(" ").slice(0, 80), ok: false, error: String((err && err.stack) || err) });
  process.exit(1);
});
