"""The page's link to the curation workspace: the database, the curator's name in the URL, and clicks that
write at once and report a failure as a message (never a traceback)."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from jman_core.errors import JmanError
from jman_core.text import markdown_literal
from jman_core.workspace import Workspace, database_url, shown_url

from . import state

VIEW_PARAMETER = "view"
CURATOR_PARAMETER = "curator"
COLLECTION_PARAMETER = "collection"
DOCUMENT_PARAMETER = "document"


def open_workspace() -> Workspace | None:
    """The workspace database (SQLite under runs/, or $JMAN_DATABASE_URL), or None after saying why not."""
    try:
        return Workspace.open()
    except JmanError as error:
        st.error(f"The curation workspace cannot be opened, so reviews cannot be kept: {error}")
    return None


def database_caption() -> str:
    return f"Every click is saved at once in {shown_url(database_url())}."


# ---- the curator's name and where they are, kept in the page's URL ------------------------------
def seed_from_url() -> None:
    """On a fresh session (a reload, a shared link), take
    the curator, collection and document from the URL."""
    parameters = st.query_params
    if not st.session_state.get(state.URL_SEEDED):
        st.session_state[state.URL_SEEDED] = True
        if parameters.get(VIEW_PARAMETER) in state.VIEWS:
            st.session_state[state.VIEW] = parameters[VIEW_PARAMETER]
    if state.CURATOR not in st.session_state:
        st.session_state[state.CURATOR] = parameters.get(CURATOR_PARAMETER, "")[:100]
    if st.session_state.get(state.COLLECTION) is None and parameters.get(COLLECTION_PARAMETER, "").isdigit():
        st.session_state[state.COLLECTION] = int(parameters[COLLECTION_PARAMETER])
    if (
        st.session_state.get(state.QUEUE_DOCUMENT) is None
        and parameters.get(DOCUMENT_PARAMETER, "").isdigit()
    ):
        st.session_state[state.QUEUE_DOCUMENT] = int(parameters[DOCUMENT_PARAMETER])


def remember_in_url(name: str, value) -> None:
    """Writes (or removes) one URL parameter, only when it changes."""
    text = "" if value is None else str(value)
    if st.query_params.get(name, "") == text:
        return
    if text:
        st.query_params[name] = text
    else:
        st.query_params.pop(name, None)


def _on_curator_change() -> None:
    remember_in_url(CURATOR_PARAMETER, " ".join(str(st.session_state[state.CURATOR]).split()))


def render_curator_box() -> str:
    """The sidebar's name box; returns the curator's name ('' when none is given yet)."""
    st.sidebar.header("Curator")
    st.sidebar.text_input(
        "Your name",
        key=state.CURATOR,
        max_chars=100,
        on_change=_on_curator_change,
        placeholder="e.g. ann",
        help="Decisions are kept per curator: two curators on one collection "
        "never overwrite each other. The name is kept in the page's address, so a reload or a "
        "bookmark keeps it.",
    )
    return current_curator()


def current_curator() -> str:
    return " ".join(str(st.session_state.get(state.CURATOR) or "").split())


# ---- clicks ------------------------------------------------------------------------------------
def say(kind: str, text: str) -> None:
    """Keeps a message for the next drawing of the review panel (callbacks cannot draw)."""
    st.session_state[state.WORKSPACE_MESSAGE] = (kind, text)


def render_message() -> None:
    """The last click's message, as text: tag and file names in it are never Markdown (a link, an image)."""
    message = st.session_state.get(state.WORKSPACE_MESSAGE)
    if message:
        kind, text = message
        {"error": st.error, "success": st.success}.get(kind, st.info)(markdown_literal(text))
        st.session_state[state.WORKSPACE_MESSAGE] = None


def click(function: Callable, *arguments, done: str = "", **options) -> bool:
    """A button's callback: the write happens before the page is drawn again; a failure becomes a message.

    Returns whether the write was made."""
    try:
        function(*arguments, **options)
    except JmanError as error:
        say("error", str(error))
        return False
    except Exception as error:  # noqa: BLE001 - a click must never end in a traceback
        say("error", f"Something went wrong while saving ({type(error).__name__}: {str(error)[:300]}).")
        return False
    if done:
        say("success", done)
    return True
