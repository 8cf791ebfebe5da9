// Teams: search by alias, sort by alias, spend or creation, cursor pages, a new team.
import { get, post } from "../api.js";
import { alertBox, append, clear, cursorPager, field, h, money, table, textInput, when }
  from "../dom.js";

const PAGE_SIZE = 10;
const SORTS = { Alias: "team_alias", Spend: "spend", Created: "created_at" };

export function teamsPage(me) {
  const state = { alias: "", sortBy: "created_at", order: "asc", cursors: [], cursor: null };
  const problem = alertBox();
  const results = h("div", { className: "results" });
  const status = h("p", { className: "status", "aria-live": "polite" });
  const search = h("input", { type: "search", "aria-label": "Search teams", autocomplete: "off",
    placeholder: "Search teams by alias" });
  let timer = null;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      state.alias = search.value.trim();
      state.cursors = [];
      state.cursor = null;
      load();
    }, 250);
  });

  function sortHeader(label) {
    const key = SORTS[label];
    const active = state.sortBy === key;
    const th = h("th", { scope: "col", "aria-sort": active
      ? (state.order === "asc" ? "ascending" : "descending") : null },
    h("button", { type: "button", className: "sort", onclick: () => {
      state.order = active && state.order === "asc" ? "desc" : "asc";
      state.sortBy = key;
      state.cursors = [];
      state.cursor = null;
      load();
    } }, label, active ? (state.order === "asc" ? " ▲" : " ▼") : ""));
    return th;
  }

  let latest = 0; // an answer to an older request (search or order changed since) is dropped

  async function load() {
    const asked = ++latest;
    problem.show("");
    status.textContent = "Loading…";
    try {
      const page = await get("/v2/team/list", {
        team_alias: state.alias, sort_by: state.sortBy, sort_order: state.order,
        page_size: PAGE_SIZE, cursor: state.cursor,
      });
      if (asked !== latest) return;
      const rows = page.teams.map((team) => [
        h("a", { href: `#/teams/${encodeURIComponent(team.team_id)}` },
          team.team_alias || team.team_id),
        h("code", {}, team.team_id), String(team.members_with_roles.length), money(team.spend),
        money(team.max_budget), team.blocked ? "Yes" : "No", when(team.created_at)]);
      clear(results).append(table("Teams", [sortHeader("Alias"), "Team ID", "Members",
        sortHeader("Spend"), "Budget", "Blocked", sortHeader("Created")], rows,
      state.alias ? "No team matches." : "No teams yet."));
      results.append(cursorPager(state, page.next_cursor, load,
        `Page ${state.cursors.length + 1} of ${page.total_pages || 1} · ` +
        `${page.total} team${page.total === 1 ? "" : "s"}`));
      status.textContent = "";
    } catch (error) {
      if (asked !== latest) return;
      status.textContent = "";
      problem.show(error.message);
    }
  }

  const view = h("section", { "aria-labelledby": "teams-title" },
    h("h1", { id: "teams-title" }, "Teams"),
    h("div", { className: "toolbar" }, search, me.isAdmin ? newTeam() : null),
    problem, status, results);
  load();
  return view;
}

function newTeam() {
  const wrapper = h("div", { className: "inline-form" });
  const open = h("button", { type: "button", "aria-expanded": "false" }, "New team");
  const alias = textInput({ required: true });
  const budget = textInput({ inputmode: "decimal" });
  const duration = textInput({ placeholder: "30d, 1mo" });
  const problem = alertBox();
  const form = h("form", { hidden: true, "aria-label": "New team", onsubmit: async (event) => {
    event.preventDefault();
    const body = { team_alias: alias.value.trim() };
    if (budget.value.trim()) body.max_budget = Number(budget.value.trim());
    if (duration.value.trim()) body.budget_duration = duration.value.trim();
    if (Number.isNaN(body.max_budget)) { problem.show("Budget must be a number."); return; }
    try {
      const team = await post("/team/new", body);
      window.location.hash = `#/teams/${encodeURIComponent(team.team_id)}`;
    } catch (error) {
      problem.show(error.message);
    }
  } }, field("Alias", alias), field("Budget", budget), field("Budget duration", duration),
  h("button", { type: "submit" }, "Create team"), problem);
  open.addEventListener("click", () => {
    form.hidden = !form.hidden;
    open.setAttribute("aria-expanded", String(!form.hidden));
    if (!form.hidden) alias.focus();
  });
  return append(wrapper, [open, form]);
}
