// Audit records as a list or a table, each with its before/after diff; cursor pages.
import { get } from "../api.js";
import { alertBox, clear, cursorPager, h, table, when } from "../dom.js";

function shown(value) {
  if (value === undefined) return "—";
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** The fields a record changed: before and after, side by side. */
export function diff(record) {
  const before = record.before_value || {};
  const after = record.updated_values || {};
  const names = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  const changed = names.filter((name) => shown(before[name]) !== shown(after[name]));
  return h("table", { className: "diff" },
    h("caption", {}, `Changes of ${record.action} ${record.object_id}`),
    h("thead", {}, h("tr", {}, ["Field", "Before", "After"].map((t) =>
      h("th", { scope: "col" }, t)))),
    h("tbody", {}, changed.map((name) => h("tr", {}, h("th", { scope: "row" }, name),
      h("td", { className: "before" }, shown(before[name])),
      h("td", { className: "after" }, shown(after[name]))))));
}

/** A paged view of GET /audit with `query` (a function: the filters now); newest first. */
export function auditPager(caption, query, limit = 20) {
  const state = { cursors: [], cursor: null };
  const problem = alertBox();
  const results = h("div", { className: "results" });
  let latest = 0; // an answer to an older request (filters changed since) is dropped

  async function load() {
    const asked = ++latest;
    problem.show("");
    try {
      const page = await get("/audit", { ...query(), limit, cursor: state.cursor });
      if (asked !== latest) return;
      const rows = page.data.map((r) => [when(r.updated_at), r.action, r.table_name,
        h("code", {}, r.object_id), r.changed_by || "—", diff(r)]);
      clear(results).append(table(caption, ["Time", "Action", "Table", "Object", "Who",
        "Changes"], rows, "No audit records."));
      results.append(cursorPager(state, page.next_cursor, load));
    } catch (error) {
      if (asked !== latest) return;
      clear(results);
      problem.show(error.message);
    }
  }

  const view = h("div", {}, problem, results);
  view.reload = () => {
    state.cursors = [];
    state.cursor = null;
    return load();
  };
  view.reload();
  return view;
}
