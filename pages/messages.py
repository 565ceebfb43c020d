"""Messages of one user or one dialog, in order: the support lead's drill-down from a repeat-contact
user, a survey comment or an escalation. Reached by links (``?user=…`` or ``?dialog=…``), not the
navigation. Looking a user up by id is for the roles that see ids."""

import streamlit as st

from data_access.sql import MAX_VALUE
from dashboard import auth, context, data, format as fmt
from dashboard.i18n import t
from dashboard.tables import not_tracked, table, when
from dashboard.tiles import page_title

SHOWN = 1000
TextColumn, NumberColumn, CheckboxColumn = (st.column_config.TextColumn, st.column_config.NumberColumn,
                                             st.column_config.CheckboxColumn)

database, filters = context.current()
page_title("page.messages", filters)


def asked(name: str) -> str | None:
    """The id in the URL: one value, at most ``MAX_VALUE`` characters, else none."""
    values = st.query_params.get_all(name)
    value = values[-1].strip() if values else ""
    return value if 0 < len(value) <= MAX_VALUE else None


user, dialog = asked("user"), asked("dialog")
if user and not auth.current().may("user_ids"):
    auth.audit("page_refused", auth.current(), page="messages", reason="user_ids")
    st.error(t("messages.user_refused"), icon=":material/lock:")
    st.stop()
if not user and not dialog:
    st.info(t("messages.how"), icon=":material/forum:")
    st.stop()
for column, wanted in (("user_id", user), ("session_id", dialog)):
    if wanted and not database.schema.has("conversation_metrics", column):  # the seed's table has no session_id
        not_tracked(f"conversation_metrics.{column}")
        st.stop()

st.subheader(t("messages.of_user", user=fmt.md_text(user)) if user else t("messages.of_dialog", dialog=fmt.md_text(dialog)))
with data.database_errors(database.config):
    messages = data.query("messages_of", database.url, filters, user, dialog)
    auth.audit("lookup", auth.current(), user_id=user, session_id=dialog, rows=len(messages),
               filters=auth.filters_for_audit(filters))
    if messages.empty:
        st.info(t("messages.none"))
        st.stop()
    more = len(messages) > SHOWN
    messages = messages.head(SHOWN)
    with st.container(horizontal=True, gap="small"):
        st.metric(t("col.messages"), fmt.number(len(messages)) + ("+" if more else ""), border=True, width=170)
        if "session_id" in messages:
            st.metric(t("col.dialogs"), fmt.number(messages["session_id"].nunique()), border=True, width=170)
        for flag in ("escalated", "resolved", "converted"):
            if flag in messages:
                st.metric(t(f"col.{flag}"), fmt.number(int(messages[flag].fillna(False).astype(bool).sum())),
                          border=True, width=170)
    if more:
        st.caption(t("messages.more", n=fmt.number(SHOWN)))
    columns = {"timestamp": when(t("col.time"), seconds=True), "session_id": TextColumn(t("col.dialog")),
               "platform": TextColumn(t("col.platform")), "intent": TextColumn(t("col.intent")),
               "expected_intent": TextColumn(t("col.expected_intent")), "ai_model": TextColumn(t("col.ai_model")),
               "confidence": NumberColumn(t("col.confidence"), format="%.2f"),
               "response_time_ms": NumberColumn(t("col.response_ms"), format="localized"),
               "satisfaction_score": NumberColumn(t("col.rating"), format="%d"),
               "helpful": CheckboxColumn(t("col.helpful")), "resolved": CheckboxColumn(t("col.resolved")),
               "escalated": CheckboxColumn(t("col.escalated")), "converted": CheckboxColumn(t("col.converted"))}
    table(messages, {name: column for name, column in columns.items() if name in messages}, "messages", "messages")
