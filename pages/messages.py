"""Messages of one user or one dialog, in order: the support lead's drill-down from a repeat-contact
user, a survey comment or an escalation. Reached by links (``?user=…`` or ``?dialog=…``) or an id
typed in its box, not the navigation. Looking a user up by id is for the roles that see ids. The
subject is shown whole, whatever the platform, intent and model filters (data_access.business.
messages_of); a dialog's ids in a user's messages open that dialog."""

import streamlit as st

from data_access.sql import MAX_VALUE
from dashboard import auth, context, data, format as fmt, names
from dashboard.i18n import current_language, t
from dashboard.tables import messages_link, not_tracked, table, when
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


def look_up() -> None:
    """The id box's submit: the typed id becomes the URL's ``dialog`` (or ``user``), the other
    one dropped; an empty or too long id changes nothing."""
    kind, typed = st.session_state["lookup_kind"], st.session_state["lookup_id"].strip()
    if 0 < len(typed) <= MAX_VALUE:
        for name in ("user", "dialog"):
            if name in st.query_params:
                del st.query_params[name]
        st.query_params[kind] = typed


may_users = auth.current().may("user_ids")
with st.form("lookup", border=False, enter_to_submit=True):
    kinds = ["dialog", "user"] if may_users else ["dialog"]
    with st.container(horizontal=True, gap="small", vertical_alignment="bottom"):
        st.selectbox(t("messages.lookup_kind"), kinds, key="lookup_kind", width=160,
                     format_func=lambda k, lang=current_language(): t(f"messages.lookup.{k}", lang))
        st.text_input(t("messages.lookup_id"), key="lookup_id", max_chars=MAX_VALUE, placeholder=t("messages.lookup_hint"))
        st.form_submit_button(t("messages.lookup_open"), icon=":material/search:", on_click=look_up)

user, dialog = asked("user"), asked("dialog")
if user and not may_users:
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
    if filters.platforms or filters.intents or filters.models:
        st.caption(t("messages.whole_dialog" if dialog and not user else "messages.whole_user"))
    if messages.empty:
        st.info(t("messages.none_dialog" if dialog and not user else "messages.none"))
        st.stop()
    more = len(messages) > SHOWN
    messages = names.with_intent_names(messages.head(SHOWN))
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
    if user and "session_id" in messages:  # each dialog id opens that dialog
        messages = messages.assign(session_id=[messages_link(dialog=d) if isinstance(d, str) and d else None
                                               for d in messages["session_id"]])
        columns["session_id"] = st.column_config.LinkColumn(t("col.dialog"), display_text=r"dialog=([^&]*)$")
    table(messages, {name: column for name, column in columns.items() if name in messages}, "messages", "messages")
