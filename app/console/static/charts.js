// Plain SVG charts: bars per day against a limit line, and a line of samples over time.
// Each chart is an image with a text alternative that says its figures.
"use strict";

const Charts = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const WIDTH = 640;
  const HEIGHT = 200;
  const PAD = { left: 56, right: 8, top: 12, bottom: 28 };

  function svg(tag, attributes = {}, text) {
    const node = document.createElementNS(NS, tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function canvas(summary) {
    return svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-label": summary,
      class: "chart-svg" });
  }

  // The axis' top: a round figure (1, 2 or 5 times a power of ten) above the largest value.
  function roundUp(value) {
    const power = Math.pow(10, Math.floor(Math.log10(value)));
    return [1, 2, 5, 10].map((step) => step * power).find((top) => top >= value);
  }

  function axis(root, top, format) {
    const inner = HEIGHT - PAD.top - PAD.bottom;
    root.append(svg("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: HEIGHT - PAD.bottom,
      y2: HEIGHT - PAD.bottom, class: "axis" }));
    root.append(svg("text", { x: PAD.left - 6, y: PAD.top + 4, "text-anchor": "end",
      class: "tick" }, format(top)));
    return (value) => PAD.top + inner * (1 - Math.min(value, top) / (top || 1));
  }

  // Bars for [{label, value}], with a dashed line at `limit` when the key has one.
  function bars(figure, points, limit, format) {
    const top = roundUp(Math.max(limit || 0, ...points.map((p) => p.value)) * 1.05 || 1);
    const summary = figure.querySelector("figcaption").textContent + ": " +
      points.map((p) => p.label + " " + format(p.value)).join(", ") +
      (limit ? "; daily limit " + format(limit) : "");
    const root = canvas(summary);
    const y = axis(root, top, format);
    const slot = (WIDTH - PAD.left - PAD.right) / points.length;
    points.forEach((point, i) => {
      const x = PAD.left + i * slot + slot * 0.15;
      const bar = svg("rect", { x, y: y(point.value), width: slot * 0.7,
        height: HEIGHT - PAD.bottom - y(point.value), class: "bar",
        "data-label": point.label, "data-value": point.value });
      bar.append(svg("title", {}, point.label + ": " + format(point.value)));
      root.append(bar);
      if (i % Math.ceil(points.length / 7) === 0 || i === points.length - 1) {
        root.append(svg("text", { x: x + slot * 0.35, y: HEIGHT - 8, "text-anchor": "middle",
          class: "tick" }, point.label.slice(5)));
      }
    });
    if (limit) {
      root.append(svg("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(limit), y2: y(limit),
        class: "limit" }));
      root.append(svg("text", { x: WIDTH - PAD.right, y: y(limit) - 4, "text-anchor": "end",
        class: "tick" }, "limit " + format(limit)));
    }
    replace(figure, root);
  }

  // Lines for named series of samples [{at, value}], with a dashed line at `cap`.
  function lines(figure, series, cap) {
    const all = Object.values(series).flat();
    const top = roundUp(Math.max(cap || 0, ...all.map((p) => p.value), 1));
    const first = Math.min(...all.map((p) => p.at));
    const span = Math.max(Math.max(...all.map((p) => p.at)) - first, 1);
    const root = canvas(figure.querySelector("figcaption").textContent + ": " +
      Object.entries(series).map(([name, points]) =>
        name + " now " + (points.length ? points[points.length - 1].value : 0)).join(", "));
    const y = axis(root, top, String);
    const x = (at) => PAD.left + (WIDTH - PAD.left - PAD.right) * (at - first) / span;
    Object.entries(series).forEach(([name, points]) => {
      root.append(svg("polyline", { class: "series " + name, fill: "none",
        points: points.map((p) => x(p.at) + "," + y(p.value)).join(" ") }));
    });
    if (cap) root.append(svg("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(cap),
      y2: y(cap), class: "limit" }));
    replace(figure, root);
  }

  function replace(figure, root) {
    const old = figure.querySelector("svg");
    if (old) old.replaceWith(root); else figure.append(root);
  }

  return { bars, lines };
})();
