// Users (admins and viewers): search by email, a user's page with their teams, keys and spend.
import { get } from "../api.js";
import { alertBox, clear, h, money, pager, table, when } from "../dom.js";

const PAGE_SIZE = 25;

export function usersPage(me) {
  const problem = alertBox();
  const results = h("div", { className: "results" });
  const state = { email: "", page: 1 };
  const search = h("input", { type: "search", "aria-label": "Search users", autocomplete: "off",
    placeholder: "part of an email" });
  let timer = null;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      state.email = search.value.trim();
      state.page = 1;
      load();
    }, 250);
  });

  let latest = 0; // an answer to an older request (search changed since) is dropped

  async function load() {
    const asked = ++latest;
    problem.show("");
    try {
      const page = await get("/user/list", { user_email: state.email, page: state.page,
        page_size: PAGE_SIZE });
      if (asked !== latest) return;
      const rows = page.users.map((user) => [
        h("a", { href: `#/users/${encodeURIComponent(user.user_id)}` }, user.user_id),
        user.user_email || "—", user.user_role || "—", String((user.teams || []).length),
        money(user.spend), money(user.max_budget)]);
      clear(results).append(table("Users", ["User", "Email", "Role", "Teams", "Spend",
        "Budget"], rows, "No users."), pager(
        state.page <= 1 ? null : () => { state.page -= 1; load(); },
        state.page >= page.total_pages ? null : () => { state.page += 1; load(); },
        `Page ${state.page} of ${page.total_pages || 1} · ${page.total} users`));
    } catch (error) {
      if (asked !== latest) return;
      clear(results);
      problem.show(error.message);
    }
  }

  load();
  return h("section", { "aria-labelledby": "users-title" },
    h("h1", { id: "users-title" }, "Users"),
    me.readsEverything ? h("div", { className: "toolbar" }, search) : null, problem, results);
}

export function userPage(me, userId) {
  const problem = alertBox();
  const body = h("div", {}, h("p", {}, "Loading…"));
  get("/user/info", { user_id: userId }).then((info) => {
    const user = info.user_info;
    clear(body).append(
      h("dl", {},
        h("dt", {}, "Email"), h("dd", {}, user.user_email || "—"),
        h("dt", {}, "Role"), h("dd", {}, user.user_role || "—"),
        h("dt", {}, "Spend"), h("dd", {}, money(user.spend)),
        h("dt", {}, "Budget"), h("dd", {}, money(user.max_budget)),
        h("dt", {}, "Created"), h("dd", {}, when(user.created_at))),
      table("Their teams", ["Team", "Team role", "Spend in team", "Team spend"],
        info.teams.map((team) => {
          const member = team.members_with_roles.find((m) => m.user_id === userId) || {};
          const membership = (team.team_memberships || [])[0] || {};
          return [h("a", { href: `#/teams/${encodeURIComponent(team.team_id)}` },
            team.team_alias || team.team_id), member.role || "—", money(membership.spend),
          money(team.spend)];
        }), "In no team."),
      table("Their keys", ["Alias", "Key name", "Team", "Spend", "Budget", "Expires"],
        info.keys.map((key) => [key.key_alias || "—", h("code", {}, key.key_name),
          key.team_id || "—", money(key.spend), money(key.max_budget), when(key.expires)]),
        "No keys."));
  }).catch((error) => {
    clear(body);
    problem.show(error.message);
  });
  return h("section", { "aria-labelledby": "user-title" },
    h("h1", { id: "user-title" }, `User ${userId}`), problem, body);
}
