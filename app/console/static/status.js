// The Health page: /health in words: the overall state, each check, the CLI's version
// against the range the gateway supports, processes, and the cluster's hosts.
"use strict";

(() => {
  const { el, api } = Console;
  const RANGE_WORDS = {
    pinned: "the version the gateway pins and tests",
    supported: "inside the supported range, but not the tested pin",
    "too old": "older than the oldest supported version: update it (npm ci)",
    unknown: "not a version number the gateway can place",
  };

  function cliText(cli) {
    if (cli.status !== "pass") return "Not usable: " + (cli.detail || cli.status);
    let text = "Version " + cli.version;
    if (cli.supported) {
      text += " — " + (RANGE_WORDS[cli.range] || cli.range) + " (supported from " +
        cli.supported.minimum + ", pinned " + cli.supported.pinned + ")";
    }
    return text;
  }

  function detail(check) {
    const rest = Object.entries(check).filter(([name]) => name !== "status" && name !== "detail"
      && name !== "supported" && name !== "range");
    return [check.detail || "", ...rest.map(([name, value]) =>
      name + ": " + (typeof value === "object" ? JSON.stringify(value) : value))]
      .filter(Boolean).join("; ");
  }

  async function show() {
    const response = await api("/health", { raw: true });
    const health = await response.json();
    const overall = document.getElementById("overall");
    overall.textContent = "The gateway is " + health.status + ".";
    overall.className = "overall " + health.status;
    document.getElementById("cli").textContent = cliText(health.checks.cli || {});
    document.querySelector("#checks tbody").replaceChildren(...Object.entries(health.checks)
      .map(([name, check]) => el("tr", { "data-check": name },
        el("th", { scope: "row" }, name),
        el("td", {}, el("span", { class: "badge " + check.status }, check.status)),
        el("td", {}, detail(check)))));
    document.getElementById("processes").replaceChildren(...Object.entries(health.processes)
      .flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, value)]));
    if (health.hosts) {
      document.getElementById("hosts-section").hidden = false;
      document.getElementById("hosts").replaceChildren(...health.hosts.map((host) =>
        el("li", {}, Object.entries(host).map(([k, v]) => k + ": " + v).join(", "))));
    }
  }

  Console.page(show);
})();
