// Spend against budget per team, the top 20 by spend, as an SVG chart (and its numbers).
import { get } from "../api.js";
import { alertBox, clear, h, money, table } from "../dom.js";

const SVG = "http://www.w3.org/2000/svg";
const TOP = 20;

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) el.setAttribute(name, String(value));
  for (const child of children) el.append(child);
  return el;
}

export function chart(teams) {
  const row = 26;
  const width = 720;
  const left = 200;
  const plot = width - left - 90;
  const most = Math.max(1e-9, ...teams.map((t) => Math.max(t.spend || 0, t.max_budget || 0)));
  const scale = (value) => (plot * value) / most;
  const graphic = svg("svg", { role: "img", viewBox: `0 0 ${width} ${row * teams.length + 10}`,
    width, height: row * teams.length + 10, "aria-labelledby": "spend-chart-title",
    class: "chart" }, svg("title", { id: "spend-chart-title" },
    `Spend against budget, top ${teams.length} team${teams.length === 1 ? "" : "s"} by spend`));
  teams.forEach((team, index) => {
    const y = index * row + 5;
    const name = team.team_alias || team.team_id;
    const over = team.max_budget !== null && team.max_budget !== undefined
      && team.spend >= team.max_budget;
    const label = svg("text", { x: left - 8, y: y + 15, "text-anchor": "end" });
    label.textContent = name.length > 28 ? `${name.slice(0, 27)}…` : name;
    const bar = svg("rect", { x: left, y: y + 3, height: 16, width: Math.max(1, scale(team.spend || 0)),
      class: over ? "bar over" : "bar" }, svg("title", {},
      `${name}: ${money(team.spend)} of ${money(team.max_budget)}`));
    const value = svg("text", { x: left + scale(team.spend || 0) + 6, y: y + 15 });
    value.textContent = money(team.spend);
    graphic.append(label, bar, value);
    if (team.max_budget !== null && team.max_budget !== undefined) {
      graphic.append(svg("line", { x1: left + scale(team.max_budget), x2: left + scale(team.max_budget),
        y1: y, y2: y + 22, class: "budget-mark" }));
    }
  });
  return graphic;
}

export function spendPage() {
  const problem = alertBox();
  const body = h("div", {}, h("p", {}, "Loading…"));
  get("/v2/team/list", { sort_by: "spend", sort_order: "desc", page_size: TOP }).then((page) => {
    clear(body).append(
      page.teams.length ? h("figure", {}, chart(page.teams), h("figcaption", {},
        "Bars: spend. Lines: budget. Red: at or over budget.")) : null,
      table("Spend by team", ["Team", "Spend", "Budget"], page.teams.map((team) => [
        h("a", { href: `#/teams/${encodeURIComponent(team.team_id)}` },
          team.team_alias || team.team_id), money(team.spend), money(team.max_budget)]),
      "No teams."));
  }).catch((error) => {
    clear(body);
    problem.show(error.message);
  });
  return h("section", { "aria-labelledby": "spend-title" },
    h("h1", { id: "spend-title" }, "Spend"), problem, body);
}
