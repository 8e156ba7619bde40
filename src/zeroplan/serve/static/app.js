// zeroplan serve: the page. Plain JS, no build step, nothing fetched from elsewhere.
"use strict";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
let info = null;
let state = null;
let running = false;
let treeToken = 0;

function svg(tag, attrs, parent) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (parent) parent.appendChild(el);
  return el;
}

function fmt(x, digits = 3) {
  return x === null || x === undefined ? "-" : (x >= 0 ? "+" : "") + x.toFixed(digits);
}

async function api(path, body) {
  const options = body === undefined ? {} : {
    method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)};
  const response = await fetch(path, options);
  const data = await response.json().catch(() => ({error: `the server answered ${response.status}`}));
  if (!response.ok) throw new Error(data.error || `the server answered ${response.status}`);
  return data;
}

let busy = false;
let queue = Promise.resolve();

async function send(path, body) {
  busy = true;
  document.body.classList.add("busy");
  $("error").textContent = "";
  try {
    const data = await api(path, body);
    // A reply for a game the page has left (a step in flight when a new game began) is dropped.
    if (data.game && (path === "/api/new" || (state && data.game === state.game))) { state = data; show(); }
    return data;
  } catch (err) {
    $("error").textContent = err.message;
    stopRunning();
    return null;
  } finally {
    busy = false;
    document.body.classList.remove("busy");
  }
}

// Requests go one after another, in the order they were asked for.
function call(path, body) {
  const run = queue.then(() => send(path, body));
  queue = run.catch(() => null);
  return run;
}

function stopRunning() {
  running = false;
  $("run").textContent = "Run";
}

async function runLoop() {
  while (running && state && !state.over) {
    await call("/api/step", {game: state.game});
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  stopRunning();
}

// --- the board ------------------------------------------------------------------------------

function drawBoard() {
  const box = $("board");
  box.replaceChildren();
  const board = state.board;
  $("text").hidden = state.text === null;
  $("text").textContent = state.text || "";
  $("frame").hidden = state.frame === null;
  if (state.frame) $("frame").src = "data:image/png;base64," + state.frame;
  drawActionButtons(board === null && info.players === 2);
  if (board === null) return;
  const rows = board.cells.length, cols = board.cells[0].length, size = 56;
  const root = svg("svg", {width: cols * size, height: rows * size, id: "board-svg"}, box);
  const last = state.moves.length ? state.moves[state.moves.length - 1] : null;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const action = board.click === "cell" ? r * cols + c : c;
      const g = svg("g", {"class": "cell", "data-action": action, "data-row": r, "data-col": c}, root);
      svg("rect", {x: c * size, y: r * size, width: size, height: size, fill: "#fff", stroke: "#999"}, g);
      const v = board.cells[r][c];
      if (v) drawStone(g, board.click, v, c * size, r * size, size);
      g.addEventListener("click", () => humanMove(action));
    }
  }
  if (last !== null && board.click === "cell") {
    const r = Math.floor(last / cols), c = last % cols;
    svg("rect", {x: c * size + 2, y: r * size + 2, width: size - 4, height: size - 4, fill: "none",
                 stroke: "#e0a000", "stroke-width": 2, "pointer-events": "none"}, root);
  }
}

function drawStone(g, click, v, x, y, size) {
  const player = v - 1;
  if (click === "cell") {
    const t = svg("text", {x: x + size / 2, y: y + size / 2 + 12, "text-anchor": "middle", "font-size": 34,
                           fill: player === 0 ? "#1f5fbf" : "#c0392b", "class": "stone"}, g);
    t.textContent = player === 0 ? "X" : "O";
  } else {
    svg("circle", {cx: x + size / 2, cy: y + size / 2, r: size * 0.4, fill: player === 0 ? "#e0b000" : "#c0392b",
                   "class": "stone"}, g);
  }
}

function drawActionButtons(show) {
  const box = $("actions");
  box.replaceChildren();
  if (!show || state.over) return;
  for (let a = 0; a < info.num_actions; a++) {
    const b = document.createElement("button");
    b.textContent = String(a);
    b.className = "action";
    b.dataset.action = a;
    b.addEventListener("click", () => humanMove(a));
    box.appendChild(b);
  }
}

// --- the search and the value chart ---------------------------------------------------------

function drawSearch(search, label) {
  const body = $("search-table").querySelector("tbody");
  body.replaceChildren();
  $("search-for").textContent = search ? label : "";
  if (!search) { $("root-value").textContent = ""; $("pv").textContent = ""; return; }
  $("root-value").textContent = `root value ${fmt(search.root_value)} for player ${search.to_play} ` +
    `(${search.policy}, ${search.simulations} simulations); plays ${search.action}`;
  for (const m of search.moves) {
    const tr = document.createElement("tr");
    if (m.action === search.action) tr.className = "chosen";
    for (const cell of [m.action, m.visits, m.prior.toFixed(3), fmt(m.q), m.policy.toFixed(3)]) {
      const td = document.createElement("td");
      td.textContent = String(cell);
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
  $("pv").textContent = "principal variation: " + (search.pv.join(" ") || "-");
}

function drawChart() {
  const chart = $("chart");
  chart.replaceChildren();
  const values = state.values;
  const w = 320, h = 140, pad = 10;
  let lo = -1, hi = 1;
  if (info.players === 1 && values.length) {
    lo = Math.min(...values.map((v) => v.value));
    hi = Math.max(...values.map((v) => v.value));
    if (hi - lo < 1e-6) { lo -= 1; hi += 1; }
  }
  const plies = Math.max(1, state.steps);
  const x = (p) => pad + (w - 2 * pad) * p / plies;
  const y = (v) => h - pad - (h - 2 * pad) * (v - lo) / (hi - lo);
  if (lo < 0 && hi > 0) svg("line", {x1: pad, x2: w - pad, y1: y(0), y2: y(0), stroke: "#bbb"}, chart);
  if (!values.length) return;
  const points = values.map((v) => `${x(v.ply).toFixed(1)},${y(v.value).toFixed(1)}`).join(" ");
  svg("polyline", {points, fill: "none", stroke: "#1f5fbf", "stroke-width": 2, id: "value-line"}, chart);
  const caption = svg("text", {x: pad, y: 12, "font-size": 10, fill: "#555"}, chart);
  caption.textContent = info.players === 2 ? "+1: player 0 (first) wins, -1: player 1 wins"
    : `value from ${lo.toFixed(1)} to ${hi.toFixed(1)}`;
}

// --- the game -------------------------------------------------------------------------------

function statusText() {
  if (info.players === 1) {
    return (state.over ? "episode over" : "the agent is ready") + `: ${state.steps} steps, return ${state.return.toFixed(1)}`;
  }
  if (state.over) {
    if (state.winner === null) return "game over: a draw";
    return state.winner === state.human ? "game over: you win" : "game over: the agent wins";
  }
  const lastAgent = state.search ? `the agent played ${state.search.action}; ` : "";
  return state.to_play === state.human ? lastAgent + "your move" : "the agent is thinking";
}

function show() {
  drawBoard();
  drawSearch(state.search, "for its last move");
  drawChart();
  $("status").textContent = statusText();
  if (!$("tree-panel").hidden && !running) loadTree();
}

async function humanMove(action) {
  if (!state || busy) return;  // a click while the agent thinks would play on a board not yet shown
  await call("/api/move", {game: state.game, action});
}

async function loadTree() {
  if (!state) return;
  if (!state.search && state.over) { $("tree").textContent = "the game is over: no position to search"; return; }
  const token = ++treeToken;
  $("tree-caption").textContent = state.search ? "the agent's search for its last move"
    : "the agent's search for this position";
  try {
    const response = await fetch(`/api/tree.svg?game=${encodeURIComponent(state.game)}&top=3&depth=3`);
    if (!response.ok) throw new Error((await response.json()).error);
    const picture = await response.text();
    if (token === treeToken) $("tree").innerHTML = picture;  // an SVG the server drew from its own numbers
  } catch (err) {
    $("error").textContent = err.message;
  }
}

async function start() {
  info = await api("/api/info");
  $("title").textContent = `zeroplan: ${info.name}`;
  $("about").textContent = `${info.env}, ${info.players === 2 ? "two players" : "one player"}; ` +
    `the agent searches with ${info.policy}, ${info.simulations} simulations` +
    (info.search_model === "rules" ? " over the real rules (AlphaZero)" : " over its learned model");
  $("two-player-controls").hidden = info.players !== 2;
  $("one-player-controls").hidden = info.players !== 1;
  $("new-first").addEventListener("click", () => call("/api/new", {human: 0}));
  $("new-second").addEventListener("click", () => call("/api/new", {human: 1}));
  $("new-episode").addEventListener("click", () => { stopRunning(); call("/api/new", {human: null}); });
  $("step").addEventListener("click", () => state && call("/api/step", {game: state.game}));
  $("run").addEventListener("click", () => {
    if (running) { stopRunning(); return; }
    running = true;
    $("run").textContent = "Pause";
    runLoop();
  });
  $("undo").addEventListener("click", () => state && call("/api/undo", {game: state.game}));
  $("analyse").addEventListener("click", async () => {
    if (!state) return;
    const search = await call("/api/search", {game: state.game});
    if (search) drawSearch(search, "for this position");
  });
  $("show-tree").addEventListener("click", () => { $("tree-panel").hidden = false; loadTree(); });
  $("hide-tree").addEventListener("click", () => { $("tree-panel").hidden = true; });
  await call("/api/new", info.players === 2 ? {human: 0} : {human: null});
}

start().catch((err) => { $("error").textContent = err.message; });
