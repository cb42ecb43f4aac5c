// The console's shared helpers: the key in session storage, calls to the JSON APIs with
// it, reading Server-Sent Events from a fetch() body, and building elements with text only
// (never HTML from a response: a transcript is text a model wrote).
"use strict";

const Console = (() => {
  const KEY = "gateway-key";
  let started = null;

  function key() { return sessionStorage.getItem(KEY); }

  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  // Call one of the gateway's APIs with the key; JSON in, JSON out, errors by their message.
  async function api(path, options = {}) {
    const headers = Object.assign(key() ? { Authorization: "Bearer " + key() } : {},
      options.headers || {});
    if (options.body !== undefined && typeof options.body !== "string") {
      headers["Content-Type"] = "application/json";
      options = Object.assign({}, options, { body: JSON.stringify(options.body) });
    }
    const response = await fetch(path, Object.assign({}, options, { headers }));
    if (options.raw) return response;
    const text = await response.text();
    let body = null;
    try { body = text ? JSON.parse(text) : null; } catch (_) { body = text; }
    if (!response.ok) {
      const message = body && body.error && body.error.message || response.statusText;
      if (response.status === 401) signOut(message);
      throw new ApiError(response.status, message);
    }
    return body;
  }

  // Read an SSE body event by event: onEvent(data, id) for each `data:` event; comments
  // (keep-alives) are skipped. EventSource cannot send the key, so fetch() reads the stream.
  async function readEvents(response, onEvent) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, "");
        dispatch(block, onEvent);
      }
    }
  }

  function dispatch(block, onEvent) {
    let id = null;
    const data = [];
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      else if (line.startsWith("id:")) id = line.slice(3).trim();
    }
    if (!data.length) return;
    let parsed = data.join("\n");
    try { parsed = JSON.parse(parsed); } catch (_) { /* [DONE] or plain text */ }
    onEvent(parsed, id);
  }

  // An element with attributes and children (strings become text nodes).
  function el(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (value === null || value === undefined || value === false) continue;
      if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else if (name === "text") node.textContent = value;
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child !== null && child !== undefined) {
        node.append(child instanceof Node ? child : document.createTextNode(String(child)));
      }
    }
    return node;
  }

  function when(seconds) {
    return seconds ? new Date(seconds * 1000).toLocaleString() : "";
  }

  function dollars(value) {
    return "$" + Number(value || 0).toFixed(value >= 1 ? 2 : 4);
  }

  function showError(message) {
    const box = document.getElementById("page-error");
    box.textContent = message || "";
    box.hidden = !message;
  }

  function signOut(message) {
    sessionStorage.removeItem(KEY);
    document.getElementById("content").hidden = true;
    document.getElementById("who").hidden = true;
    document.getElementById("sign-in").hidden = false;
    document.getElementById("sign-in-error").textContent = message || "";
  }

  // Check the pasted key against /api/usage (any key may read its own), then keep it.
  async function signIn(event) {
    event.preventDefault();
    const input = document.getElementById("key-input");
    sessionStorage.setItem(KEY, input.value.trim());
    try {
      await enter();
      input.value = "";
    } catch (error) {
      signOut(error.message);
    }
  }

  async function enter() {
    const usage = await api("/api/usage");
    document.getElementById("who-name").textContent = "Signed in as " + usage.key;
    document.getElementById("who").hidden = false;
    document.getElementById("sign-in").hidden = true;
    document.getElementById("content").hidden = false;
    if (started) started(usage).catch((error) => showError(error.message));
  }

  // Register the page's start, run once a key is known (at once when the tab has one, or
  // when the server asks for none: a keyless one on loopback).
  function page(start) {
    started = start;
    document.getElementById("sign-in").addEventListener("submit", signIn);
    document.getElementById("sign-out").addEventListener("click", () => signOut(""));
    const stored = key();
    enter().catch((error) => {
      if (error.status !== 401) showError(error.message);
      else if (!stored) signOut("");  // no key yet: ask for one, without an error
    });
  }

  return { api, readEvents, el, when, dollars, showError, page, ApiError };
})();
