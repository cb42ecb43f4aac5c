// The Usage page: the key's day against its limits, its last 14 days as charts, every
// key's day for an operator, and processes and queue sampled from /metrics.
"use strict";

(() => {
  const { el, api, dollars } = Console;
  const SAMPLE_MS = 15000;
  const KEEP_SAMPLES = 240;  // an hour of samples
  const samples = { running: [], queued: [] };
  const number = (value) => Number(value || 0).toLocaleString();

  function meter(label, value, limit, format) {
    const share = limit ? Math.min(value / limit, 1) : null;
    return el("div", { class: "meter-row" },
      el("p", {}, label + ": " + format(value) + (limit ? " of " + format(limit) : " (no limit)")),
      limit ? el("meter", { min: 0, max: 1, value: share, high: 0.8, "aria-label": label }) : null);
  }

  function showToday(usage) {
    document.getElementById("usage-day").textContent = usage.day;
    document.getElementById("usage-key").textContent = usage.key;
    const today = usage.today;
    document.getElementById("today").replaceChildren(
      meter("Turns", today.turns, null, number),
      meter("Tokens", today.total_tokens, usage.limits.daily_tokens, number),
      meter("Dollars", today.cost_usd, usage.limits.daily_usd, dollars),
      el("p", { class: "note" }, "This month: " + number(usage.month.turns) + " turns, " +
        number(usage.month.total_tokens) + " tokens, " + dollars(usage.month.cost_usd)));
  }

  function showDays(usage) {
    const points = (field) => usage.days.map((d) => ({ label: d.day, value: d[field] }));
    Charts.bars(document.getElementById("chart-tokens"), points("total_tokens"),
      usage.limits.daily_tokens, number);
    Charts.bars(document.getElementById("chart-cost"), points("cost_usd"),
      usage.limits.daily_usd, dollars);
    Charts.bars(document.getElementById("chart-turns"), points("turns"), null, number);
  }

  function showKeys(keys) {
    if (!keys) return;
    document.getElementById("keys-section").hidden = false;
    const share = (row) => {
      const parts = [];
      if (row.limits.daily_tokens) parts.push(Math.round(100 * row.total_tokens / row.limits.daily_tokens) + "% of tokens");
      if (row.limits.daily_usd) parts.push(Math.round(100 * row.cost_usd / row.limits.daily_usd) + "% of dollars");
      return parts.join(", ") || "no limit";
    };
    document.querySelector("#keys tbody").replaceChildren(...keys.map((row) =>
      el("tr", {}, el("th", { scope: "row" }, row.key), el("td", {}, number(row.turns)),
        el("td", {}, number(row.total_tokens)), el("td", {}, dollars(row.cost_usd)),
        el("td", {}, share(row)))));
  }

  // The figures of one metric family in Prometheus text: {labels text or "": value}.
  function metric(text, name) {
    const found = {};
    for (const line of text.split("\n")) {
      const match = line.match(/^(\w+)(\{[^}]*\})?\s+([0-9.eE+-]+)/);
      if (match && match[1] === name) found[match[2] || ""] = Number(match[3]);
    }
    return found;
  }

  async function sample() {
    const response = await api("/metrics", { raw: true });
    const note = document.getElementById("processes-note");
    if (!response.ok) {
      note.textContent = response.status === 403
        ? "Your key lacks the metrics scope: processes and queue are the operator's to see."
        : "/metrics answered " + response.status + ".";
      return;
    }
    const text = await response.text();
    const processes = metric(text, "claude_gateway_processes");
    const running = processes['{state="running"}'] || 0;
    const queued = Object.values(metric(text, "claude_gateway_queue_length"))[0] || 0;
    const cap = Object.values(metric(text, "claude_gateway_processes_max"))[0] || 0;
    document.getElementById("processes").replaceChildren(
      meter("Running processes", running, cap, number),
      el("p", {}, "Idle " + (processes['{state="idle"}'] || 0) + ", warm " +
        (processes['{state="warm"}'] || 0) + ", queued requests " + queued));
    const at = Date.now() / 1000;
    samples.running.push({ at, value: running });
    samples.queued.push({ at, value: queued });
    for (const list of Object.values(samples)) list.splice(0, list.length - KEEP_SAMPLES);
    Charts.lines(document.getElementById("chart-processes"), samples, cap);
    setTimeout(() => sample().catch((error) => Console.showError(error.message)), SAMPLE_MS);
  }

  Console.page(async (usage) => {
    showToday(usage);
    showDays(usage);
    showKeys(usage.keys);
    await sample();
  });
})();
