"""Placeholder while the lesson is being written."""

import streamlit as st

st.title("2_attention")
