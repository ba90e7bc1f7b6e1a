"""Calling the library from the page: a user's mistake becomes a message, never a traceback."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import streamlit as st

from jman_core.errors import JmanError
from jman_core.text import markdown_literal

Result = TypeVar("Result")


def show_error(message: str) -> None:
    """A library's message shown as text: a file or tag name in it is never Markdown (an image, a link)."""
    st.error(markdown_literal(message))


def show_unexpected(error: Exception, what: str) -> None:
    """A generic message, with the error's text (not its traceback) in an expander."""
    st.error(f"Something went wrong while {what}. The page still works; try another input.")
    with st.expander("Error details"):
        st.code(f"{type(error).__name__}: {error}"[:2000], language=None)


def call_library(
    function: Callable[..., Result], *arguments, what: str = "running the model", **options
) -> Result | None:
    """`function(*arguments, **options)`, or None after showing why it failed."""
    try:
        return function(*arguments, **options)
    except JmanError as error:
        show_error(str(error))
    except Exception as error:  # noqa: BLE001 - the page must survive anything the library raises
        show_unexpected(error, what)
    return None
