// How one of Claude Code's stream-json events reads on a page: text as text, tool calls
// by name and input, results folded, thinking folded; bookkeeping events not at all.
"use strict";

const Events = (() => {
  const { el } = Console;

  function folded(summary, body, className) {
    return el("details", { class: className }, el("summary", {}, summary),
      el("pre", {}, body));
  }

  function pretty(value) {
    return typeof value === "string" ? value : JSON.stringify(value, null, 2);
  }

  // One content block of a message (assistant or a user's tool results).
  function block(part) {
    if (part.type === "text" && part.text) return el("p", { class: "text" }, part.text);
    if (part.type === "thinking") return folded("Thinking", part.thinking || "", "thinking");
    if (part.type === "tool_use") {
      return folded("Tool call: " + part.name, pretty(part.input), "tool-use");
    }
    if (part.type === "tool_result") {
      const content = Array.isArray(part.content)
        ? part.content.map((c) => c.text || "").join("\n") : part.content;
      return folded(part.is_error ? "Tool error" : "Tool result", pretty(content || ""),
        part.is_error ? "tool-result error" : "tool-result");
    }
    return null;
  }

  // A list item for the event, or null for events a reader does not need.
  function render(event) {
    if (!event || typeof event !== "object") return null;
    if ((event.type === "assistant" || event.type === "user") && event.message) {
      const content = event.message.content;
      const parts = (Array.isArray(content) ? content : [{ type: "text", text: content }])
        .map(block).filter(Boolean);
      return parts.length ? el("li", { class: event.type }, parts) : null;
    }
    if (event.type === "permission_request") {
      return el("li", { class: "note" }, "Waiting for approval of " + event.tool_name);
    }
    if (event.type === "result") {
      const words = (event.is_error ? "Ended with an error" : "Done") +
        (event.total_cost_usd !== undefined ? ", " + Console.dollars(event.total_cost_usd) : "") +
        (event.result && event.is_error ? ": " + event.result : "");
      return el("li", { class: event.is_error ? "result error" : "result" }, words);
    }
    return null;
  }

  return { render, block };
})();
