// The console: sign in with a key, then hash routes (the key never goes in the URL).
import { ApiError, call, session } from "./api.js";
import { alertBox, clear, field, h, textInput } from "./dom.js";
import { auditPage } from "./views/audit.js";
import { spendPage } from "./views/spend.js";
import { teamPage } from "./views/team.js";
import { teamsPage } from "./views/teams.js";
import { userPage, usersPage } from "./views/users.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const who = document.getElementById("who");

/** Who the key is (GET /key/info with no query) and what the console shows for it. */
export function viewer(info) {
  const role = info.user_role || null;
  return {
    userId: info.user_id || null,
    role,
    teamId: info.team_id || null,
    isAdmin: role === "proxy_admin",
    readsEverything: role === "proxy_admin" || role === "proxy_admin_viewer",
  };
}

let me = null;

function signInPage(message) {
  clear(nav);
  clear(who);
  const input = textInput({ className: "secret", name: "api-key", required: true });
  const problem = alertBox();
  problem.show(message);
  const form = h("form", { className: "signin", onsubmit: async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) { problem.show("Enter an API key."); return; }
    try {
      const answer = await call("GET", "/key/info", { key });
      session.key = key;
      input.value = "";
      me = viewer(answer.info);
      if (!window.location.hash || window.location.hash === "#/signin") {
        window.location.hash = "#/teams";
      } else route();
    } catch (error) {
      problem.show(error instanceof ApiError && error.status === 401
        ? "That key is not valid (Error 401)." : error.message);
    }
  } },
  h("h1", {}, "Sign in"),
  h("p", {}, "Sign in with an API key. It is kept in this tab only, until you sign out."),
  field("API key", input), h("button", { type: "submit" }, "Sign in"), problem);
  clear(main).append(form);
  input.focus();
}

function signOut() {
  session.forget();
  me = null;
  window.location.hash = "";
  signInPage();
}

function renderNav() {
  clear(nav);
  const links = [["#/teams", "Teams"], ["#/spend", "Spend"]];
  if (me.readsEverything) links.push(["#/audit", "Audit"], ["#/users", "Users"]);
  else if (me.userId && me.role) links.push([`#/users/${encodeURIComponent(me.userId)}`, "My user"]);
  const current = window.location.hash.split("/").slice(0, 2).join("/");
  nav.append(h("ul", {}, links.map(([href, text]) => h("li", {},
    h("a", { href, "aria-current": href === current ? "page" : null }, text)))));
  clear(who).append(`${me.userId || "no user"} · ${me.role || "no role"} `,
    h("button", { type: "button", onclick: signOut }, "Sign out"));
}

const ROUTES = [
  [/^#\/teams\/(.+)$/, (id) => teamPage(me, id)],
  [/^#\/teams$/, () => teamsPage(me)],
  [/^#\/audit$/, () => auditPage(me)],
  [/^#\/users\/(.+)$/, (id) => userPage(me, id)],
  [/^#\/users$/, () => usersPage(me)],
  [/^#\/spend$/, () => spendPage(me)],
];

async function route() {
  if (!session.key) { signInPage(); return; }
  if (!me) {
    try {
      me = viewer((await call("GET", "/key/info")).info);
    } catch (error) {
      session.forget();
      signInPage(error.message);
      return;
    }
  }
  const hash = window.location.hash || "#/teams";
  renderNav();
  for (const [pattern, page] of ROUTES) {
    const found = hash.match(pattern);
    if (found) {
      const view = page(...found.slice(1).map(decodeURIComponent));
      clear(main).append(view);
      main.focus({ preventScroll: true });
      return;
    }
  }
  window.location.hash = "#/teams";
}

window.addEventListener("hashchange", route);
route();
