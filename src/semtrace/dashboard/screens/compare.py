"""Compare two runs step by step (filled in below)."""

from __future__ import annotations

import streamlit as st

st.title("Compare")
