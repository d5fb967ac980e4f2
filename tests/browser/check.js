// Runs inside the page: opens every <details>, then measures each text node of the
// flopmagic outputs (WCAG contrast against its composited background), the alignment of
// name and number cells, and overflow. Writes its findings as JSON into a pre element (id fm-result).
(function () {
  function parse(c) {
    const m = c.match(/rgba?\(([^)]+)\)/);
    if (!m) return [0, 0, 0, 0];
    const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  }
  function blend(top, bottom) {
    const a = top[3] + bottom[3] * (1 - top[3]);
    if (a === 0) return [0, 0, 0, 0];
    const mix = [0, 1, 2].map((i) => (top[i] * top[3] + bottom[i] * bottom[3] * (1 - top[3])) / a);
    return mix.concat([a]);
  }
  function background(el) {
    const layers = [];
    for (let e = el; e; e = e.parentElement) layers.push(parse(getComputedStyle(e).backgroundColor));
    let c = [255, 255, 255, 1]; // the canvas
    for (let i = layers.length - 1; i >= 0; i--) c = blend(layers[i], c);
    return c;
  }
  function luminance(c) {
    const [r, g, b] = c.slice(0, 3).map((v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  }
  function contrast(a, b) {
    const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05);
  }
  document.querySelectorAll("details").forEach((d) => (d.open = true));
  const result = { texts: 0, min_contrast: 99, low: [], misaligned: [], overflow: [], cells: 0, tabular: 0 };
  const roots = [...document.querySelectorAll(".flopmagic")].filter((r) => !r.parentElement.closest(".flopmagic"));
  roots.forEach((root) => {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const el = node.parentElement;
      if (!node.textContent.trim() || el.closest("style")) continue;
      const style = getComputedStyle(el);
      if (style.display === "none" || style.visibility === "hidden") continue;
      const bg = background(el);
      const fg = blend(parse(style.color), bg);
      const ratio = contrast(fg, bg);
      result.texts += 1;
      if (ratio < result.min_contrast) result.min_contrast = ratio;
      if (ratio < 4.5) result.low.push({ text: node.textContent.trim().slice(0, 40), ratio, color: style.color });
    }
    root.querySelectorAll("td, th").forEach((cell) => {
      const style = getComputedStyle(cell);
      const number = cell.classList.contains("num");
      const want = number ? "right" : "left";
      result.cells += 1;
      if (number && cell.tagName === "TD" && style.fontVariantNumeric.includes("tabular-nums")) result.tabular += 1;
      if (style.textAlign !== want && !(want === "left" && style.textAlign === "start"))
        result.misaligned.push({ text: cell.textContent.slice(0, 40), align: style.textAlign, want });
      if (cell.scrollWidth > cell.clientWidth + 1) result.overflow.push({ text: cell.textContent.slice(0, 40) });
    });
    if (root.scrollWidth > root.clientWidth + 1)
      result.overflow.push({ text: "output wider than its area", width: root.scrollWidth, area: root.clientWidth });
  });
  result.numbers = document.querySelectorAll(".flopmagic td.num").length;
  const pre = document.createElement("pre");
  pre.id = "fm-result";
  pre.textContent = JSON.stringify(result);
  document.body.appendChild(pre);
})();
