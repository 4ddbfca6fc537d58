// The condition builder: rows of field, operator and value, joined by "all of these" (AND) or
// "any of these" (OR), kept in step with the JSON textarea below it (the one the server reads and
// checks). A condition with nested groups is shown as JSON only.
(function () {
  "use strict";

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(function ([key, value]) {
      if (key === "text") node.textContent = value;
      else node.setAttribute(key, value);
    });
    (children || []).forEach(function (child) { node.appendChild(child); });
    return node;
  }

  function parse(text) {
    if (!text.trim() || text.trim() === "null") return { mode: "all", rows: [] };
    let value;
    try { value = JSON.parse(text); } catch (error) { return null; }
    if (!value || typeof value !== "object") return null;
    const mode = "any" in value ? "any" : "all";
    const rows = value[mode];
    if (!Array.isArray(rows) || Object.keys(value).length !== 1) return null;
    if (rows.some(function (row) { return !row || !("field" in row); })) return null;  // nested groups
    return { mode: mode, rows: rows };
  }

  function build(box) {
    const textarea = document.getElementById(box.dataset.for);
    const spec = JSON.parse(document.getElementById(box.dataset.builder).textContent);
    const byName = Object.fromEntries(spec.fields.map(function (field) { return [field.name, field]; }));
    const state = parse(textarea.value);
    const unknown = state && state.rows.some(function (row) { return !(row.field in byName); });
    if (state === null || unknown) {
      box.appendChild(el("p", { class: "help", text: spec.labels.nested }));
      return;
    }
    const mode = el("select", { class: "mc-condition-mode", "aria-label": "AND / OR" }, [
      el("option", { value: "all", text: spec.labels.all }),
      el("option", { value: "any", text: spec.labels.any }),
    ]);
    mode.value = state.mode;
    const list = el("div", { class: "mc-condition-rows" });
    const add = el("button", { type: "button", class: "button mc-condition-add", text: spec.labels.add });
    box.append(mode, list, add);

    function write() {
      const rows = Array.from(list.children).map(function (row) {
        const field = row.querySelector(".mc-condition-field").value;
        const op = row.querySelector(".mc-condition-op").value;
        const raw = row.querySelector(".mc-condition-value").value;
        const condition = { field: field, op: op };
        if (!spec.no_value.includes(op)) {
          condition.value = op === "in" ? raw.split(",").map(function (part) { return part.trim(); }).filter(Boolean) : raw;
        }
        return condition;
      });
      textarea.value = rows.length ? JSON.stringify({ [mode.value]: rows }) : "";
      textarea.dispatchEvent(new Event("input"));  // e.g. the live audience count
    }

    function row(condition) {
      const field = el("select", { class: "mc-condition-field", "aria-label": "field" },
        spec.fields.map(function (item) { return el("option", { value: item.name, text: item.label }); }));
      const op = el("select", { class: "mc-condition-op", "aria-label": "operator" });
      const value = el("input", { type: "text", class: "mc-condition-value", "aria-label": "value" });
      const remove = el("button", { type: "button", class: "button", text: spec.labels.remove });
      function operators() {
        const chosen = op.value;
        op.replaceChildren.apply(op, (byName[field.value] || spec.fields[0]).ops.map(function (name) {
          return el("option", { value: name, text: spec.operators[name] || name });
        }));
        if (Array.from(op.options).some(function (option) { return option.value === chosen; })) op.value = chosen;
        value.hidden = spec.no_value.includes(op.value);
      }
      field.value = condition.field in byName ? condition.field : spec.fields[0].name;
      operators();
      if (condition.op) op.value = condition.op;
      value.hidden = spec.no_value.includes(op.value);
      value.value = Array.isArray(condition.value) ? condition.value.join(", ") : (condition.value ?? "");
      field.addEventListener("change", function () { operators(); write(); });
      op.addEventListener("change", function () { value.hidden = spec.no_value.includes(op.value); write(); });
      value.addEventListener("input", write);
      remove.addEventListener("click", function () { line.remove(); write(); });
      const line = el("div", { class: "mc-condition-row" }, [field, op, value, remove]);
      return line;
    }

    state.rows.forEach(function (condition) { list.appendChild(row(condition)); });
    add.addEventListener("click", function () { list.appendChild(row({})); write(); });
    mode.addEventListener("change", write);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".mc-condition").forEach(build);
  });
})();
