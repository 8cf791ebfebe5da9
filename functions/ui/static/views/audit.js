// The audit log (admins and viewers): filter by object, table, action, who and time.
import { alertBox, field, h, select, textInput } from "../dom.js";
import { auditPager } from "./timeline.js";

const TABLES = [["", "Any table"], ["LiteLLM_TeamTable", "Teams"],
  ["LiteLLM_TeamMembership", "Memberships"], ["LiteLLM_UserTable", "Users"],
  ["LiteLLM_VerificationToken", "Keys"]];
const ACTIONS = [["", "Any action"], ["created", "created"], ["updated", "updated"],
  ["deleted", "deleted"], ["blocked", "blocked"], ["unblocked", "unblocked"]];

function isoOrEmpty(local) {
  // <input type="datetime-local"> is the user's local time; the API takes ISO-8601 UTC.
  if (!local) return "";
  const date = new Date(local);
  return Number.isNaN(date.getTime()) ? "" : date.toISOString();
}

export function auditPage(me) {
  if (!me.readsEverything) {
    const problem = alertBox();
    problem.show("The audit log is for admins and viewers.");
    return h("section", {}, h("h1", {}, "Audit log"), problem);
  }
  const object = textInput();
  const tableName = select(TABLES, "");
  const action = select(ACTIONS, "");
  const changedBy = textInput();
  const start = h("input", { type: "datetime-local", step: 1 });
  const end = h("input", { type: "datetime-local", step: 1 });
  const filters = () => ({ object_id: object.value.trim(), table_name: tableName.value,
    action: action.value, changed_by: changedBy.value.trim(), start: isoOrEmpty(start.value),
    end: isoOrEmpty(end.value) });
  const pager = auditPager("Audit log", filters);
  const form = h("form", { className: "filters", "aria-label": "Audit filters",
    onsubmit: (event) => {
      event.preventDefault();
      pager.reload();
    } },
  field("Object", object), field("Table", tableName), field("Action", action),
  field("Who", changedBy), field("From", start), field("To", end),
  h("button", { type: "submit" }, "Apply filters"));
  return h("section", { "aria-labelledby": "audit-title" },
    h("h1", { id: "audit-title" }, "Audit log"), form, pager);
}
