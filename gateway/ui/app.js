// The faasq dashboard: one page per path under /ui/, each refreshed from /ui/api/ and the gateway's API.
// No framework and no build step: elements are made with el(), text is always set as text.

const REFRESH_MS = 2000;
const main = document.getElementById("main");
const live = document.getElementById("live");
const NOT_STARTED = ["scheduled", "queued", "retrying", "waiting for concurrency", "rate limited", "paused"];

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

class ApiError extends Error {}

async function api(path, options = {}) {
  const response = await fetch(path, options);
  const text = await response.text();
  let body = text;
  try { body = text ? JSON.parse(text) : null; } catch { /* plain text */ }
  if (!response.ok) {
    const detail = body && typeof body === "object" ? body.detail || body.message : body;
    throw new ApiError(`${response.status}: ${typeof detail === "string" ? detail : text || response.statusText}`);
  }
  return { status: response.status, headers: response.headers, body };
}

const KEEP_MS = 10000;
let keptUntil = 0;

// What the page says in its status line; what an action did stays a while before "Updated" replaces it.
function say(text, failed = false, keep = false) {
  if (!keep && Date.now() < keptUntil) return;
  keptUntil = keep ? Date.now() + KEEP_MS : keptUntil;
  live.textContent = text;
  live.classList.toggle("error", failed);
}

function every(refresh) {
  let timer = null;
  const tick = async () => {
    try {
      await refresh();
      say(`Updated ${new Date().toLocaleTimeString()}`);
    } catch (error) {
      say(`Not updated: ${error.message}`, true);
    }
    timer = setTimeout(tick, REFRESH_MS);
  };
  tick();
  return () => clearTimeout(timer);
}

function confirmed(text) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-text").textContent = text;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
  });
}

async function act(text, doing, done) {
  if (!(await confirmed(text))) return;
  try {
    const answer = await doing();
    say(done(answer), false, true);
  } catch (error) {
    say(error.message, true, true);
  }
}

const fmt = {
  n: (v) => (v === null || v === undefined ? "—" : Number(v).toLocaleString()),
  rate: (v) => (v === null || v === undefined ? "—" : `${Number(v).toFixed(v < 10 ? 2 : 0)}/s`),
  pct: (v) => (v === null || v === undefined ? "—" : `${(v * 100).toFixed(v < 0.1 ? 1 : 0)}%`),
  secs: (v) => {
    if (v === null || v === undefined) return "—";
    if (v < 1) return `${Math.round(v * 1000)} ms`;
    if (v < 120) return `${v.toFixed(1)} s`;
    return `${Math.round(v / 60)} min`;
  },
  time: (iso) => (iso ? new Date(iso).toLocaleString() : "—"),
  pairs: (object) => Object.entries(object || {}).map(([k, v]) => `${k}=${v}`).join(", ") || "—",
};

function table(caption, columns, rows, empty) {
  const head = el("tr", {}, columns.map(([label, numeric]) => el("th", { scope: "col", class: numeric ? "num" : null }, label)));
  const body = rows.length
    ? rows.map((cells) => el("tr", {}, cells.map((cell, i) => el("td", { class: columns[i][1] ? "num" : null }, cell))))
    : [el("tr", {}, el("td", { colspan: columns.length, class: "empty" }, empty))];
  return el("div", { class: "scroll" }, el("table", {}, el("caption", { class: "visually-hidden" }, caption), el("thead", {}, head), el("tbody", {}, body)));
}

function stateText(state) {
  return el("span", { class: `state state-${String(state).replaceAll(" ", "-")}` }, state);
}

function callLink(id) {
  return el("a", { href: `/ui/calls/${encodeURIComponent(id)}` }, id);
}

const SPAN_S = 15 * 60;

function chart(title, at, values, now, format) {
  // x: seconds over the last 15 minutes; y: the value, the highest at the top.
  const points = values.map((v, i) => [at[i] - (now - SPAN_S), v]).filter(([x, v]) => v !== null && v !== undefined && x >= 0);
  const top = Math.max(1e-9, ...points.map(([, v]) => v));
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "chart");
  svg.setAttribute("viewBox", `0 0 ${SPAN_S} 100`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("role", "img");
  const latest = points.length ? points[points.length - 1][1] : null;
  svg.setAttribute("aria-label", `${title} over the last 15 minutes: now ${format(latest)}, highest ${format(points.length ? top : null)}`);
  const y = (v) => (98 - (v / top) * 94).toFixed(2);
  const base = document.createElementNS(svg.namespaceURI, "line");
  for (const [k, v] of Object.entries({ x1: 0, y1: 99, x2: SPAN_S, y2: 99 })) base.setAttribute(k, v);
  svg.append(base);
  if (points.length) {
    const line = document.createElementNS(svg.namespaceURI, "polyline");
    const drawn = points.length > 1 ? points : [[points[0][0] - 5, points[0][1]], points[0]];
    line.setAttribute("points", drawn.map(([x, v]) => `${x.toFixed(1)},${y(v)}`).join(" "));
    svg.append(line);
  }
  return el("figure", {}, el("figcaption", {}, `${title}: `, el("strong", {}, format(latest))), svg);
}

function plural(count, one, many = `${one}s`) {
  return `${fmt.n(count)} ${count === 1 ? one : many}`;
}

function fnName(f) {
  return el("span", {}, f.name, f.namespace ? el("small", { class: "muted" }, ` ${f.namespace}`) : null);
}

// Pages

function overview() {
  const functions = el("section", { "aria-labelledby": "fn-title" });
  const queues = el("section", { "aria-labelledby": "q-title" });
  const charts = el("div", { class: "charts" });
  main.replaceChildren(
    el("h1", {}, "Overview"),
    el("h2", { id: "fn-title" }, "Functions"), functions,
    el("h2", { id: "q-title" }, "Queues"), queues,
    el("h2", {}, "Last 15 minutes"), charts,
  );
  return every(async () => {
    const { body } = await api("/ui/api/overview");
    functions.replaceChildren(table(
      "Functions",
      [["Function"], ["Replicas", 1], ["Invocations", 1], ["Rate", 1], ["Errors", 1], ["Queued", 1], ["Running", 1],
        ["Wait p50", 1], ["Wait p99", 1], ["Dead letters", 1], ["Limits"], ["Scaling"]],
      body.functions.map((f) => [
        el("a", { href: `/ui/functions#fn-${f.name}` }, fnName(f)),
        f.deployed ? `${fmt.n(f.availableReplicas)}/${fmt.n(f.replicas)}` : "not deployed",
        fmt.n(f.invocations), fmt.rate(f.rate), fmt.pct(f.errorRate), fmt.n(f.queued), fmt.n(f.inFlight),
        fmt.secs(f.waitP50), fmt.secs(f.waitP99), fmt.n(f.deadLetters), fmt.pairs(f.limits), fmt.pairs(f.scaling),
      ]),
      "No functions deployed.",
    ));
    queues.replaceChildren(table(
      "Queues",
      [["Queue"], ["Pending", 1], ["Running", 1], ["Throughput", 1], ["Oldest waiting", 1]],
      body.queues.map((q) => [q.name, fmt.n(q.pending), fmt.n(q.inFlight), fmt.rate(q.throughput), fmt.secs(q.oldestWaitingSeconds)]),
      "No queue has been used yet.",
    ));
    const series = body.series;
    charts.replaceChildren(
      chart("Calls run a second", series.at, series.throughput, body.at, fmt.rate),
      chart("Failures a second", series.at, series.errors, body.at, fmt.rate),
      chart("Queue wait (median)", series.at, series.waitP50, body.at, fmt.secs),
    );
  });
}

function calls() {
  const params = new URLSearchParams(location.search);
  const search = el("input", { type: "search", name: "q", value: params.get("q") || "", autocomplete: "off" });
  const open = el("input", { name: "id", required: true, autocomplete: "off", pattern: "[A-Za-z0-9][A-Za-z0-9._:\\-]{0,127}" });
  const list = el("section", { "aria-label": "Recent calls" });
  main.replaceChildren(
    el("h1", {}, "Calls"),
    el("form", { class: "inline", role: "search", onsubmit: (event) => {
      event.preventDefault();
      location.href = `/ui/calls/${encodeURIComponent(open.value.trim())}`;
    } }, el("label", {}, "Call id", open), el("button", { type: "submit" }, "Open call")),
    el("form", { class: "inline", role: "search", onsubmit: (event) => {
      event.preventDefault();
      history.replaceState(null, "", search.value ? `?q=${encodeURIComponent(search.value)}` : location.pathname);
    } }, el("label", {}, "Search recent calls (id, function or state)", search), el("button", { type: "submit" }, "Search")),
    list,
  );
  return every(async () => {
    const { body } = await api(`/ui/api/calls?limit=200&q=${encodeURIComponent(search.value)}`);
    list.replaceChildren(table(
      "Recent calls",
      [["Call"], ["Function"], ["State"], ["Attempt", 1], ["Status", 1], ["Duration", 1], ["Updated"]],
      body.items.map((c) => [
        callLink(c.call_id), c.function, stateText(c.state), c.attempt ? `${c.attempt}${c.max_attempts ? ` of ${c.max_attempts}` : ""}` : "—",
        c.status_code ?? "—", c.duration !== undefined ? fmt.secs(c.duration) : "—", fmt.time(c.updated_at),
      ]),
      "No calls yet (calls appear here as workers take them).",
    ));
  });
}

function call(id) {
  const heading = el("h1", {}, `Call ${id}`);
  const actions = el("div", { class: "actions" });
  const storyList = el("ol", { class: "story" });
  const record = el("dl", { class: "record" });
  main.replaceChildren(heading, actions, el("h2", {}, "Story"), storyList, el("h2", {}, "Record"), record);
  document.title = `Call ${id} · faasq`;
  const path = encodeURIComponent(id);
  let shown = "";
  return every(async () => {
    let body;
    try {
      ({ body } = await api(`/ui/api/calls/${path}`));
    } catch (error) {
      if (error.message.startsWith("404")) {
        storyList.replaceChildren(el("li", {}, `No call ${id} is known (yet): it appears once it is queued.`));
        return;
      }
      throw error;
    }
    const r = body.record;
    storyList.replaceChildren(...body.story.map((step) =>
      el("li", {}, el("time", { datetime: step.at }, fmt.time(step.at)), stateText(step.state), " ", step.text)));
    const fields = [["State", stateText(r.state)], ["Function", `${r.function}${r.namespace ? `.${r.namespace}` : ""}`],
      ["Queue", r.queue], ["Attempt", r.attempt ? `${r.attempt}${r.max_attempts ? ` of ${r.max_attempts}` : ""}` : "—"],
      ["Status code", r.status_code ?? "—"], ["Duration", r.duration !== undefined ? fmt.secs(r.duration) : "—"],
      ["Reason", r.reason ?? "—"], ["Callback error", r.callback_error ?? "—"], ["Batch", r.batch_id ?? "—"],
      ["Trace id", r.trace_id ?? "—"], ["Enqueued", fmt.time(r.enqueued_at)], ["Started", fmt.time(r.started_at)],
      ["Finished", fmt.time(r.finished_at)]];
    if (r.result) fields.push(["Result", el("pre", { class: "answer" }, r.result.body)]);
    record.replaceChildren(...fields.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
    if (shown === r.state) return;
    shown = r.state;
    const buttons = [];
    if (NOT_STARTED.includes(r.state)) {
      buttons.push(el("button", { type: "button", class: "danger", onclick: () => act(
        `Cancel call ${id}? It will not run.`,
        () => api(`/async-calls/${path}`, { method: "DELETE" }),
        () => `Call ${id} cancelled.`,
      ) }, "Cancel call"));
    }
    if (r.state === "dead") {
      buttons.push(el("button", { type: "button", onclick: () => act(
        `Redrive call ${id}? It is queued again and runs from its first attempt.`,
        () => api(`/system/dead-letters/${path}/redrive`, { method: "POST" }),
        () => `Call ${id} queued again.`,
      ) }, "Redrive"));
      buttons.push(el("button", { type: "button", class: "danger", onclick: () => act(
        `Purge the dead letter of call ${id}? It cannot be redriven afterwards.`,
        () => api(`/system/dead-letters/${path}`, { method: "DELETE" }),
        () => `Dead letter of ${id} purged.`,
      ) }, "Purge"));
    }
    actions.replaceChildren(...buttons);
  });
}

function deadLetters() {
  const fn = el("input", { name: "function", autocomplete: "off" });
  const since = el("input", { name: "since", placeholder: "1h or 2026-01-01T00:00:00Z", autocomplete: "off" });
  const groups = el("section", { "aria-label": "Dead letters by function and reason" });
  const filterQuery = () => {
    const q = new URLSearchParams();
    if (fn.value.trim()) q.set("function", fn.value.trim());
    if (since.value.trim()) q.set("since", since.value.trim());
    return q.toString();
  };
  const described = () => [fn.value.trim() && `of ${fn.value.trim()}`, since.value.trim() && `since ${since.value.trim()}`].filter(Boolean).join(" ") || "of every function";
  main.replaceChildren(
    el("h1", {}, "Dead letters"),
    el("form", { class: "inline", onsubmit: (event) => event.preventDefault() },
      el("label", {}, "Function", fn), el("label", {}, "Since", since),
      el("button", { type: "button", onclick: () => act(
        `Redrive every dead letter ${described()}?`,
        () => api(`/system/dead-letters/redrive?${filterQuery()}`, { method: "POST" }),
        (a) => `${plural(a.body.redriven.length, "call")} queued again.`,
      ) }, "Redrive all matching"),
      el("button", { type: "button", class: "danger", onclick: () => act(
        `Purge every dead letter ${described()}? They cannot be redriven afterwards.`,
        () => api(`/system/dead-letters?${filterQuery()}`, { method: "DELETE" }),
        (a) => `${plural(a.body.purged.length, "dead letter")} purged.`,
      ) }, "Purge all matching")),
    groups,
  );
  const groupAction = (g, verb) => () => act(
    verb === "redrive" ? `Redrive the ${g.count} dead letters of ${g.function} that say “${g.reason}”?`
      : `Purge the ${g.count} dead letters of ${g.function} that say “${g.reason}”? They cannot be redriven afterwards.`,
    () => api(`/ui/api/dead-letters/groups/${verb}`, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ function: g.function, namespace: g.namespace || null, reason: g.reason }),
    }),
    (a) => (verb === "redrive" ? `${plural(a.body.redriven.length, "call")} queued again.` : `${plural(a.body.purged.length, "dead letter")} purged.`),
  );
  return every(async () => {
    const { body } = await api(`/ui/api/dead-letters/groups?${filterQuery()}`);
    groups.replaceChildren(
      el("p", {}, `${plural(body.total, "dead letter")} in ${plural(body.groups.length, "group")}.`),
      table(
        "Dead letters by function and reason",
        [["Function"], ["Reason"], ["Kind"], ["Count", 1], ["Last"], ["Calls"], ["Actions"]],
        body.groups.map((g) => [
          g.function, g.reason, g.kinds.join(", "), fmt.n(g.count), fmt.time(g.lastDeadAt),
          el("span", {}, g.calls.flatMap((id, i) => (i ? [", ", callLink(id)] : [callLink(id)]))),
          el("span", { class: "actions" },
            el("button", { type: "button", onclick: groupAction(g, "redrive") }, "Redrive group"),
            el("button", { type: "button", class: "danger", onclick: groupAction(g, "purge") }, "Purge group")),
        ]),
        "No dead letters.",
      ),
    );
  });
}

function batches() {
  const list = el("section", { "aria-label": "Batches" });
  main.replaceChildren(el("h1", {}, "Batches"), list);
  const open = new Set();
  return every(async () => {
    const { body } = await api("/ui/api/batches");
    const rows = await Promise.all(body.items.map(async (b) => {
      const counts = Object.entries(b.counts).filter(([, n]) => n).map(([s, n]) => `${s} ${fmt.n(n)}`).join(", ");
      const finished = Boolean(b.finished_at);
      const failed = (b.counts.failed || 0) + (b.counts.dead || 0);
      const details = el("details", { ontoggle: (event) => (event.target.open ? open.add(b.batch_id) : open.delete(b.batch_id)) },
        el("summary", {}, plural(failed, "failed item")));
      if (open.has(b.batch_id)) {
        details.open = true;
        const items = [];
        for (const state of ["failed", "dead"]) {
          const answer = await api(`/async-batches/${encodeURIComponent(b.batch_id)}?items=${state}&limit=20`);
          items.push(...answer.body.items);
        }
        details.append(el("ul", {}, items.map((item) => el("li", {}, callLink(item.call_id), ` ${item.state ?? ""} ${item.reason ?? ""}`))));
      }
      return [
        b.batch_id, b.function,
        el("span", {}, el("progress", { max: b.total, value: b.done, "aria-label": `Batch ${b.batch_id}: ${b.done} of ${b.total} done` }), ` ${fmt.n(b.done)}/${fmt.n(b.total)}`),
        counts, failed ? details : "none", fmt.time(b.created_at), finished ? "finished" : el("button", { type: "button", class: "danger", onclick: () => act(
          `Cancel batch ${b.batch_id}? Its items not started yet will not run.`,
          () => api(`/async-batches/${encodeURIComponent(b.batch_id)}`, { method: "DELETE" }),
          () => `Batch ${b.batch_id} cancelled.`,
        ) }, "Cancel batch"),
      ];
    }));
    list.replaceChildren(table(
      "Batches",
      [["Batch"], ["Function"], ["Progress"], ["Items by state"], ["Failed items"], ["Created"], [""]],
      rows, "No batches yet.",
    ));
  });
}

function invoker(f) {
  const name = f.namespace ? `${f.name}.${f.namespace}` : f.name;
  const body = el("textarea", { name: "body" });
  const sync = el("input", { type: "radio", name: `mode-${name}`, value: "sync", checked: true });
  const async_ = el("input", { type: "radio", name: `mode-${name}`, value: "async" });
  const callback = el("input", { type: "url", name: "callback", placeholder: "https://…", autocomplete: "off" });
  const answer = el("div", { role: "status", "aria-live": "polite" });
  const form = el("form", { onsubmit: async (event) => {
    event.preventDefault();
    answer.replaceChildren("Invoking…");
    try {
      if (sync.checked) {
        const response = await fetch(`/function/${encodeURIComponent(name)}`, { method: "POST", body: body.value });
        answer.replaceChildren(el("p", {}, `HTTP ${response.status}`), el("pre", { class: "answer" }, await response.text()));
      } else {
        const headers = callback.value ? { "X-Callback-Url": callback.value } : {};
        const { headers: reply } = await api(`/async-function/${encodeURIComponent(name)}`, { method: "POST", body: body.value, headers });
        const id = reply.get("X-Call-Id");
        answer.replaceChildren(el("p", {}, "Accepted: call ", callLink(id)));
      }
    } catch (error) {
      answer.replaceChildren(el("p", { class: "error" }, error.message));
    }
  } },
  el("label", {}, "Body", body),
  el("fieldset", { class: "mode" }, el("legend", { class: "visually-hidden" }, "How"),
    el("label", {}, sync, "Synchronously"), el("label", {}, async_, "Asynchronously")),
  el("label", {}, "Callback URL (asynchronous calls, optional)", callback),
  el("p", {}, el("button", { type: "submit" }, `Invoke ${f.name}`)));
  return el("section", { id: `fn-${f.name}`, "aria-labelledby": `fn-${f.name}-title` },
    el("h2", { id: `fn-${f.name}-title` }, fnName(f)), form, answer);
}

function functions() {
  const list = el("div");
  main.replaceChildren(el("h1", {}, "Functions"), list);
  (async () => {
    try {
      const { body } = await api("/ui/api/overview");
      const deployed = body.functions.filter((f) => f.deployed);
      list.replaceChildren(...(deployed.length ? deployed.map(invoker) : [el("p", { class: "empty" }, "No functions deployed.")]));
      if (location.hash) document.getElementById(location.hash.slice(1))?.scrollIntoView();
      say(`Updated ${new Date().toLocaleTimeString()}`);
    } catch (error) {
      say(error.message, true);
    }
  })();
  return () => {};
}

function route() {
  const path = location.pathname.replace(/\/+$/, "");
  for (const link of document.querySelectorAll("nav a")) {
    const target = link.getAttribute("href").replace(/\/+$/, "");
    if (target === path || (target !== "/ui" && path.startsWith(`${target}/`))) link.setAttribute("aria-current", "page");
  }
  const callPage = path.match(/^\/ui\/calls\/(.+)$/);
  if (callPage) return call(decodeURIComponent(callPage[1]));
  const pages = { "/ui": overview, "/ui/calls": calls, "/ui/dead-letters": deadLetters, "/ui/batches": batches, "/ui/functions": functions };
  const page = pages[path];
  if (page) {
    document.title = `${document.querySelector('nav a[aria-current="page"]')?.textContent || "Dashboard"} · faasq`;
    return page();
  }
  main.replaceChildren(el("h1", {}, "Not found"), el("p", {}, "No dashboard page is here. ", el("a", { href: "/ui/" }, "Go to the overview.")));
  return () => {};
}

route();
