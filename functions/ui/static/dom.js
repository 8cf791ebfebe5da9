// Building the page from data: DOM APIs and textContent only, so API text is never markup.

/** An element: `attrs` set as properties (on*, className, ...) or attributes; children are
 *  nodes or text (null and false are skipped). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "className" || name === "value" || name === "checked") el[name] = value;
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

let fieldCount = 0;

/** A labelled control: the label names it (its accessible name). */
export function field(label, control) {
  control.id ||= `field-${++fieldCount}`;
  return h("div", { className: "field" }, h("label", { for: control.id }, label), control);
}

export function textInput(attrs = {}) {
  return h("input", { type: "text", autocomplete: "off", spellcheck: "false", ...attrs });
}

export function select(options, selected) {
  return h("select", {}, options.map(([value, text]) =>
    h("option", { value, selected: value === selected }, text)));
}

/** A table named by its caption, with header cells; rows are arrays of cells (nodes or text). */
export function table(caption, headers, rows, empty = "Nothing to show.") {
  const head = h("tr", {}, headers.map((header) =>
    header instanceof Node ? header : h("th", { scope: "col" }, header)));
  const body = rows.length
    ? rows.map((cells) => h("tr", {}, cells.map((cell) => h("td", {}, cell))))
    : [h("tr", {}, h("td", { colspan: headers.length, className: "empty" }, empty))];
  return h("table", {}, h("caption", {}, caption), h("thead", {}, head), h("tbody", {}, body));
}

/** Previous and Next buttons around what page this is; a null handler disables its button. */
export function pager(onPrevious, onNext, label = null) {
  const button = (text, onclick) => h("button", { type: "button", disabled: !onclick, onclick },
    text);
  return h("div", { className: "pager" }, button("Previous", onPrevious),
    label === null ? null : h("span", {}, label), button("Next", onNext));
}

/** The pager of a cursor-paged list: `state.cursor` is this page's cursor, `state.cursors`
 *  those of the pages before it; `load` shows the page `state.cursor` names. */
export function cursorPager(state, nextCursor, load, label = null) {
  const previous = state.cursors.length === 0 ? null : () => {
    state.cursor = state.cursors.pop() ?? null;
    load();
  };
  const next = !nextCursor ? null : () => {
    state.cursors.push(state.cursor);
    state.cursor = nextCursor;
    load();
  };
  return pager(previous, next, label);
}

/** An error (or any message) said in words where it happened; empty: none. */
export function alertBox() {
  const box = h("p", { role: "alert", className: "alert" });
  box.show = (message) => { box.textContent = message || ""; };
  return box;
}

export function money(value) {
  return value === null || value === undefined ? "—" : `$${Number(value).toFixed(2)}`;
}

export function when(value) {
  if (!value) return "—";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toISOString().replace(".000Z", "Z");
}
