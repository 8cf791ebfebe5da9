// One team: spend against budget, block, edit, members, keys and its audit timeline.
import { get, post } from "../api.js";
import { alertBox, clear, field, h, money, select, table, textInput, when }
  from "../dom.js";
import { auditPager } from "./timeline.js";

const ROLES = [["user", "user"], ["admin", "admin"]];

export function teamPage(me, teamId) {
  const view = h("section", { "aria-labelledby": "team-title" });
  const problem = alertBox();
  const body = h("div");
  // Outside `body`: a new raw key stays on screen while the rest reloads.
  const fresh = h("div", { className: "fresh-key" });

  async function render() {
    problem.show("");
    let info;
    try {
      info = await get("/team/info", { team_id: teamId });
    } catch (error) {
      clear(view).append(h("h1", { id: "team-title" }, "Team"), problem);
      problem.show(error.message);
      return;
    }
    const team = info.team_info;
    const myRole = (team.members_with_roles.find((m) => m.user_id === me.userId) || {}).role;
    const canManage = me.isAdmin || (me.role === "internal_user" && myRole === "admin");
    const act = (path, payload) => async () => {
      problem.show("");
      try {
        await post(path, payload());
        await render();
      } catch (error) {
        problem.show(error.message);
      }
    };
    clear(body).append(
      overview(team, canManage, act),
      canManage ? editForm(team, act) : null,
      members(info, canManage, act),
      keys(info, canManage, act, fresh, render),
    );
    clear(view).append(h("h1", { id: "team-title" }, `Team ${team.team_alias || team.team_id}`),
      problem, fresh, body);
    if (me.readsEverything || myRole === "admin") {
      view.append(h("h2", {}, "Activity"),
        auditPager("Activity", () => ({ team_id: team.team_id }), 10));
    }
  }

  view.append(h("h1", { id: "team-title" }, "Team"), h("p", {}, "Loading…"));
  render();
  return view;
}

function overview(team, canManage, act) {
  const budget = team.max_budget;
  const spend = team.spend || 0;
  const bar = budget === null || budget === undefined
    ? h("p", {}, `Spend ${money(spend)}, no budget.`)
    : h("div", { className: "budget" },
      h("label", { for: "spend-meter" }, "Spend against budget"),
      h("meter", { id: "spend-meter", min: 0, max: budget || 1, high: (budget || 1) * 0.8,
        optimum: 0, value: Math.min(spend, budget || spend) }),
      h("p", {}, `${money(spend)} of ${money(budget)}` +
        (budget ? ` (${Math.round((spend / budget) * 100)}%)` : "")));
  return h("div", { className: "overview" },
    h("dl", {},
      h("dt", {}, "Team ID"), h("dd", {}, h("code", {}, team.team_id)),
      h("dt", {}, "Blocked"), h("dd", {}, team.blocked ? "Yes" : "No"),
      h("dt", {}, "Budget duration"), h("dd", {}, team.budget_duration || "—"),
      h("dt", {}, "Next reset"), h("dd", {}, when(team.budget_reset_at)),
      h("dt", {}, "Models"), h("dd", {}, (team.models || []).join(", ") || "all")),
    bar,
    canManage ? h("button", { type: "button", onclick: act(
      team.blocked ? "/team/unblock" : "/team/block", () => ({ team_id: team.team_id })) },
    team.blocked ? "Unblock team" : "Block team") : null);
}

/** A button that shows and hides a form after it. */
function toggled(label, form, first) {
  const open = h("button", { type: "button", "aria-expanded": "false" }, label);
  form.hidden = true;
  open.addEventListener("click", () => {
    form.hidden = !form.hidden;
    open.setAttribute("aria-expanded", String(!form.hidden));
    if (!form.hidden && first) first.focus();
  });
  return h("div", { className: "inline-form" }, open, form);
}

function numberOrNull(text) {
  const value = text.trim();
  return value === "" ? null : Number(value);
}

function editForm(team, act) {
  const alias = textInput({ value: team.team_alias || "" });
  const budget = textInput({ value: team.max_budget ?? "", inputmode: "decimal" });
  const duration = textInput({ value: team.budget_duration || "" });
  const models = textInput({ value: (team.models || []).join(", ") });
  const problem = alertBox();
  const changes = () => {
    // Only what changed: a team admin may rename the team, not change its budget.
    const body = { team_id: team.team_id };
    if (alias.value.trim() !== (team.team_alias || "")) body.team_alias = alias.value.trim();
    const newBudget = numberOrNull(budget.value);
    if (newBudget !== (team.max_budget ?? null)) body.max_budget = newBudget;
    if (duration.value.trim() !== (team.budget_duration || "")) {
      body.budget_duration = duration.value.trim() || null;
    }
    const list = models.value.split(",").map((m) => m.trim()).filter(Boolean);
    if (list.join(",") !== (team.models || []).join(",")) body.models = list;
    return body;
  };
  const save = act("/team/update", changes);
  const form = h("form", { "aria-label": "Edit team", onsubmit: (event) => {
    event.preventDefault();
    if (Number.isNaN(numberOrNull(budget.value))) { problem.show("Budget must be a number."); return; }
    save();
  } }, field("Alias", alias), field("Budget", budget), field("Budget duration", duration),
  field("Models", models), h("button", { type: "submit" }, "Save"), problem);
  return toggled("Edit", form, alias);
}

function members(info, canManage, act) {
  const team = info.team_info;
  const memberships = Object.fromEntries(info.team_memberships.map((m) => [m.user_id, m]));
  const rows = team.members_with_roles.map((member) => {
    const membership = memberships[member.user_id] || {};
    const budget = (membership.litellm_budget_table || {}).max_budget;
    const cells = [
      member.user_id ? h("a", { href: `#/users/${encodeURIComponent(member.user_id)}` },
        member.user_id) : "—",
      member.user_email || "—", member.role, money(membership.spend), money(budget)];
    if (canManage) {
      const role = select(ROLES, member.role);
      const changeForm = h("form", { className: "row-form", "aria-label": "Change role",
        onsubmit: (event) => {
          event.preventDefault();
          act("/team/member_update", () => ({ team_id: team.team_id, user_id: member.user_id,
            role: role.value }))();
        } }, field("New role", role), h("button", { type: "submit" }, "Save role"));
      cells.push(h("div", { className: "actions" }, toggled("Change role", changeForm, role),
        h("button", { type: "button", onclick: act("/team/member_delete", () => ({
          team_id: team.team_id, user_id: member.user_id })) }, "Remove")));
    }
    return cells;
  });
  const headers = ["User", "Email", "Role", "Spend", "Budget"];
  if (canManage) headers.push("Actions");
  const section = h("section", { "aria-labelledby": "members-title" },
    h("h2", { id: "members-title" }, "Members"),
    table("Members", headers, rows, "No members."));
  if (info.members_next_cursor) {
    section.append(h("p", {}, "This team has more members than shown here (the first 1,000)."));
  }
  if (canManage) section.append(addMember(team, act));
  return section;
}

function addMember(team, act) {
  const who = textInput({ required: true });
  const role = select(ROLES, "user");
  const budget = textInput({ inputmode: "decimal" });
  const problem = alertBox();
  const add = act("/team/member_add", () => {
    const name = who.value.trim();
    const member = name.includes("@") ? { user_email: name } : { user_id: name };
    const body = { team_id: team.team_id, member: { ...member, role: role.value } };
    const amount = numberOrNull(budget.value);
    if (amount !== null) body.max_budget_in_team = amount;
    return body;
  });
  const form = h("form", { "aria-label": "Add a member", onsubmit: (event) => {
    event.preventDefault();
    if (!who.value.trim()) { problem.show("Enter a user email or user ID."); return; }
    if (Number.isNaN(numberOrNull(budget.value))) {
      problem.show("Budget in team must be a number.");
      return;
    }
    add();
  } }, field("User email or User ID", who), field("Role", role),
  field("Budget in team", budget), h("button", { type: "submit" }, "Add"), problem);
  return toggled("Add member", form, who);
}

function keys(info, canManage, act, fresh, reload) {
  const team = info.team_info;
  const rows = info.keys.map((key) => {
    const cells = [key.key_alias || "—", h("code", {}, key.key_name), money(key.spend),
      money(key.max_budget), when(key.expires)];
    if (canManage) {
      cells.push(h("button", { type: "button", onclick: act("/key/delete", () => ({
        keys: [key.token] })) }, "Delete"));
    }
    return cells;
  });
  const headers = ["Alias", "Key name", "Spend", "Budget", "Expires"];
  if (canManage) headers.push("Actions");
  const section = h("section", { "aria-labelledby": "keys-title" },
    h("h2", { id: "keys-title" }, "Keys"), table("Keys", headers, rows, "No keys."));
  if (canManage) section.append(newKey(team, fresh, reload));
  return section;
}

function newKey(team, fresh, reload) {
  const alias = textInput();
  const budget = textInput({ inputmode: "decimal" });
  const problem = alertBox();
  const form = h("form", { "aria-label": "Create a key", onsubmit: async (event) => {
    event.preventDefault();
    problem.show("");
    const body = { team_id: team.team_id };
    if (alias.value.trim()) body.key_alias = alias.value.trim();
    const amount = numberOrNull(budget.value);
    if (Number.isNaN(amount)) { problem.show("Budget must be a number."); return; }
    if (amount !== null) body.max_budget = amount;
    try {
      const key = await post("/key/generate", body);
      await reload();
      showOnce(fresh, key.key);
    } catch (error) {
      problem.show(error.message);
    }
  } }, field("Key alias", alias), field("Budget", budget),
  h("button", { type: "submit" }, "Create key"), problem);
  return toggled("New key", form, alias);
}

/** The raw key, shown this once: it is never stored, and goes when the user is done. */
function showOnce(fresh, raw) {
  const output = textInput({ readonly: true, value: raw, className: "raw-key" });
  const said = h("p", { role: "status" });
  const done = h("button", { type: "button", onclick: () => clear(fresh) }, "Done");
  const copy = h("button", { type: "button", onclick: async () => {
    try {
      await navigator.clipboard.writeText(output.value);
      said.textContent = "Copied.";
    } catch {
      output.select();
      said.textContent = "Selected: press Ctrl+C to copy.";
    }
  } }, "Copy");
  clear(fresh).append(h("div", { className: "notice", role: "region",
    "aria-label": "Key created" },
  h("p", {}, "Your new key. Copy it now: it will not be shown again."),
  field("Raw key", output), copy, done, said));
  output.focus();
}
